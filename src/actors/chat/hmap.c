/* hmap.c: see hmap.h. Grows by doubling when entries outnumber buckets; a
 * failed grow keeps longer chains rather than failing the insert. */
#include "hmap.h"

#include <errno.h>
#include <stdlib.h>

int hmap_init(hmap_t *m, size_t nbuckets)
{
    m->nbuckets = 1;
    while (m->nbuckets < nbuckets)
        m->nbuckets *= 2;
    m->count = 0;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    return m->buckets != NULL ? 0 : -ENOMEM;
}

void hmap_destroy(hmap_t *m, void (*free_entry)(hmap_entry_t *e))
{
    for (size_t i = 0; i < m->nbuckets && m->buckets != NULL; i++) {
        for (hmap_entry_t *e = m->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            if (free_entry != NULL)
                free_entry(e);
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->count = 0;
}

static hmap_entry_t **bucket(const hmap_t *m, uint64_t hash)
{
    return &m->buckets[(hash >> 17 ^ hash) & (m->nbuckets - 1)];
}

hmap_entry_t *hmap_find(const hmap_t *m, uint64_t hash, const void *key, hmap_eq_fn eq)
{
    for (hmap_entry_t *e = *bucket(m, hash); e != NULL; e = e->next)
        if (e->hash == hash && eq(e, key))
            return e;
    return NULL;
}

static void grow(hmap_t *m)
{
    hmap_t bigger = {.nbuckets = m->nbuckets * 2};
    bigger.buckets = calloc(bigger.nbuckets, sizeof(*bigger.buckets));
    if (bigger.buckets == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (hmap_entry_t *e = m->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            hmap_entry_t **b = bucket(&bigger, e->hash);
            e->next = *b;
            *b = e;
        }
    }
    free(m->buckets);
    m->buckets = bigger.buckets;
    m->nbuckets = bigger.nbuckets;
}

void hmap_insert(hmap_t *m, hmap_entry_t *e)
{
    hmap_entry_t **b = bucket(m, e->hash);
    e->next = *b;
    *b = e;
    if (++m->count > m->nbuckets)
        grow(m);
}

bool hmap_remove(hmap_t *m, hmap_entry_t *e)
{
    for (hmap_entry_t **p = bucket(m, e->hash); *p != NULL; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            m->count--;
            return true;
        }
    }
    return false;
}

uint64_t hmap_hash_bytes(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

uint64_t hmap_hash_u64(uint64_t x)
{
    /* splitmix64's finaliser: consecutive keys land far apart. */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
