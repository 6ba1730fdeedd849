/* pwhash.h: salted argon2id password hashes (libsodium crypto_pwhash_str),
 * the format stored by the memory and redis auth backends:
 * "$argon2id$v=19$m=...,t=...,p=...$salt$hash".
 * Hashing is deliberately slow (milliseconds to a second): call it only from
 * the blocking auth pool or a command-line tool, never on a worker thread. */
#ifndef RINGCHAT_PWHASH_H
#define RINGCHAT_PWHASH_H

#include <stdbool.h>
#include <stddef.h>

enum { PWHASH_STR_MAX = 128 }; /* >= crypto_pwhash_STRBYTES */

typedef enum pwhash_cost {
    PWHASH_COST_MIN,         /* libsodium's minimums: tests and benchmarks only */
    PWHASH_COST_INTERACTIVE, /* ~64 MiB, online logins */
    PWHASH_COST_MODERATE,    /* ~256 MiB, slower and stronger */
} pwhash_cost_t;

/* Initialises libsodium once; safe to call from several threads. 0 or -1. */
int pwhash_init(void);

/* Writes a NUL-terminated argon2id string for password into out
 * (PWHASH_STR_MAX bytes). Returns 0, or -ENOMEM when libsodium cannot get
 * the memory the cost asks for. */
int pwhash_hash(const char *password, size_t len, pwhash_cost_t cost, char out[PWHASH_STR_MAX]);

/* true if password matches the stored string; false for a mismatch or a
 * string that is not a valid argon2id hash. Constant time in the password. */
bool pwhash_verify(const char *stored, const char *password, size_t len);

#endif
