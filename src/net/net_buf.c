/* net_buf.c: reference-counted, immutable-once-shared byte buffers.
 *
 * Who calls it: the layer above (encodes a packet once, sends it to one or
 * thousands of connections) and the outbox (one reference per queued copy).
 * What it must never do: free a buffer while a reference exists, or let a
 * reference count reach zero twice.
 * Invariant: refs > 0 while anyone may read the bytes; the thread that drops
 * the last reference is the only one that touches the buffer afterwards. */
#include "net_internal.h"

#include <errno.h>
#include <stdlib.h>

net_buf_t *net_buf_alloc(size_t len)
{
    if (len > SIZE_MAX - sizeof(net_buf_t)) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned cls = net_pool_class_for(sizeof(net_buf_t) + len);
    net_buf_t *b;
    size_t cap;
    if (cls != NET_POOL_NONE) {
        b = net_pool_get(cls);
        cap = net_pool_obj_size(cls) - sizeof(net_buf_t);
    } else {
        b = malloc(sizeof(net_buf_t) + len);
        cap = len;
    }
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    /* Relaxed: nobody else can see the buffer yet; it is published to other
     * threads by the release operations of the outbox push. */
    atomic_store_explicit(&b->refs, 1, memory_order_relaxed);
    b->cls = (uint8_t)cls;
    b->len = len;
    b->cap = cap;
    return b;
}

uint8_t *net_buf_data(net_buf_t *b)
{
    return b->data;
}

size_t net_buf_len(const net_buf_t *b)
{
    return b->len;
}

void net_buf_truncate(net_buf_t *b, size_t len)
{
    if (len > b->len)
        abort(); /* growing is not truncating: a caller bug, kept checked in release */
    b->len = len;
}

net_buf_t *net_buf_ref(net_buf_t *b)
{
    /* Relaxed: the caller already holds a reference, so the count cannot reach
     * zero concurrently; ordering is provided by however the new reference is
     * handed over (the outbox push is a release). */
    uint32_t old = atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    if (old == 0)
        abort(); /* ref of a dead buffer: a use after free */
    return b;
}

void net_buf_unref(net_buf_t *b)
{
    if (b == NULL)
        return; /* like free(NULL): callers need not check */
    /* Acq_rel: the release half orders this holder's reads of the bytes
     * before the decrement; the acquire half lets the thread that takes the
     * count to zero see all those releases (the decrements form one release
     * sequence) before it reuses the memory. A release decrement plus an
     * acquire fence would do, but ThreadSanitizer does not model fences, and on
     * x86-64 both are the same locked instruction. */
    uint32_t old = atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel);
    if (old != 1) {
        if (old == 0)
            abort(); /* unref of a dead buffer: memory is already corrupt */
        return;
    }
    if (b->cls != NET_POOL_NONE)
        net_pool_put(b->cls, b);
    else
        free(b);
}

uint32_t net_buf_refcount(const net_buf_t *b)
{
    /* Relaxed: a diagnostic snapshot. */
    return atomic_load_explicit(&b->refs, memory_order_relaxed);
}
