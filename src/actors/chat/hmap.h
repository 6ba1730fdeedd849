/* hmap.h: a small intrusive chained hash map for actor-owned tables (the room
 * directory, the login registry). Entries embed an hmap_entry_t and carry
 * their own key; the map only stores 64-bit hashes and asks a callback to
 * compare keys. Owner thread only: never shared, never locked. */
#ifndef RINGCHAT_HMAP_H
#define RINGCHAT_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hmap_entry {
    struct hmap_entry *next;
    uint64_t hash;
} hmap_entry_t;

/* true if entry e has the key the caller is looking for. */
typedef bool (*hmap_eq_fn)(const hmap_entry_t *e, const void *key);

typedef struct hmap {
    hmap_entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
} hmap_t;

int hmap_init(hmap_t *m, size_t nbuckets); /* 0 or -ENOMEM */
/* Calls free_entry (may be NULL) on every entry, then frees the buckets. */
void hmap_destroy(hmap_t *m, void (*free_entry)(hmap_entry_t *e));
hmap_entry_t *hmap_find(const hmap_t *m, uint64_t hash, const void *key, hmap_eq_fn eq);
/* Adds e (e->hash set by the caller; the key must not be present). */
void hmap_insert(hmap_t *m, hmap_entry_t *e);
/* Unlinks e if present; returns whether it was. */
bool hmap_remove(hmap_t *m, hmap_entry_t *e);

/* FNV-1a over bytes; and a mixer for integer keys. */
uint64_t hmap_hash_bytes(const void *p, size_t len);
uint64_t hmap_hash_u64(uint64_t x);

#endif
