/* test_pwhash.c: the argon2id wrapper produces strings in the stored format
 * that verify the right password and refuse everything else. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "pwhash.h"

static void setup(void)
{
    cr_assert_eq(pwhash_init(), 0);
}

TestSuite(pwhash, .init = setup, .timeout = 60);

Test(pwhash, hash_has_argon2id_format_and_verifies)
{
    char h[PWHASH_STR_MAX];
    cr_assert_eq(pwhash_hash("secret", 6, PWHASH_COST_MIN, h), 0);
    cr_assert(strncmp(h, "$argon2id$v=19$m=", 17) == 0, "got %s", h);
    cr_assert(pwhash_verify(h, "secret", 6));
    cr_assert_not(pwhash_verify(h, "secreT", 6));
    cr_assert_not(pwhash_verify(h, "secret", 5));
    cr_assert_not(pwhash_verify(h, "", 0));
}

Test(pwhash, same_password_gets_different_salts)
{
    char a[PWHASH_STR_MAX], b[PWHASH_STR_MAX];
    cr_assert_eq(pwhash_hash("pw", 2, PWHASH_COST_MIN, a), 0);
    cr_assert_eq(pwhash_hash("pw", 2, PWHASH_COST_MIN, b), 0);
    cr_assert_str_neq(a, b);
    cr_assert(pwhash_verify(a, "pw", 2) && pwhash_verify(b, "pw", 2));
}

Test(pwhash, non_argon2id_strings_never_match)
{
    cr_assert_not(pwhash_verify("secret", "secret", 6));
    cr_assert_not(pwhash_verify("", "", 0));
    cr_assert_not(pwhash_verify("$argon2i$v=19$m=8,t=1,p=1$AAAA$AAAA", "x", 1));
    cr_assert_not(pwhash_verify("$argon2id$garbage", "x", 1));
}

Test(pwhash, interactive_cost_uses_more_memory_than_min)
{
    char lo[PWHASH_STR_MAX], hi[PWHASH_STR_MAX];
    cr_assert_eq(pwhash_hash("pw", 2, PWHASH_COST_MIN, lo), 0);
    cr_assert_eq(pwhash_hash("pw", 2, PWHASH_COST_INTERACTIVE, hi), 0);
    unsigned mlo = 0, mhi = 0;
    cr_assert_eq(sscanf(lo, "$argon2id$v=19$m=%u,", &mlo), 1);
    cr_assert_eq(sscanf(hi, "$argon2id$v=19$m=%u,", &mhi), 1);
    cr_assert_gt(mhi, mlo);
    cr_assert(pwhash_verify(hi, "pw", 2));
}
