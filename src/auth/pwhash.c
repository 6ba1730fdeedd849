/* pwhash.c: argon2id hashing through libsodium (see pwhash.h). Stateless
 * after pwhash_init(); never called on a worker thread (it takes up to a
 * second and tens of MiB by design). */
#include "pwhash.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

_Static_assert(PWHASH_STR_MAX >= crypto_pwhash_STRBYTES, "PWHASH_STR_MAX too small");

int pwhash_init(void)
{
    /* sodium_init is itself thread-safe and idempotent (returns 1 when
     * already initialised). */
    return sodium_init() < 0 ? -1 : 0;
}

static void cost_limits(pwhash_cost_t cost, unsigned long long *ops, size_t *mem)
{
    switch (cost) {
    case PWHASH_COST_MIN:
        *ops = crypto_pwhash_OPSLIMIT_MIN;
        *mem = crypto_pwhash_MEMLIMIT_MIN;
        break;
    case PWHASH_COST_MODERATE:
        *ops = crypto_pwhash_OPSLIMIT_MODERATE;
        *mem = crypto_pwhash_MEMLIMIT_MODERATE;
        break;
    case PWHASH_COST_INTERACTIVE:
    default:
        *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
        break;
    }
}

int pwhash_hash(const char *password, size_t len, pwhash_cost_t cost, char out[PWHASH_STR_MAX])
{
    unsigned long long ops;
    size_t mem;
    cost_limits(cost, &ops, &mem);
    memset(out, 0, PWHASH_STR_MAX);
    if (crypto_pwhash_str_alg(out, password, len, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -ENOMEM;
    return 0;
}

bool pwhash_verify(const char *stored, const char *password, size_t len)
{
    /* Only argon2id strings are accepted: a stored value of another kind is
     * a configuration error, never a match. */
    if (strncmp(stored, "$argon2id$", 10) != 0)
        return false;
    return crypto_pwhash_str_verify(stored, password, len) == 0;
}
