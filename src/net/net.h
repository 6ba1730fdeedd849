/* net.h: the whole contract of ringchat's completion-based network layer.
 *
 * Who calls it: the server wiring (one port per worker thread) and the chat
 * layer (sessions send bytes with net_conn_send). Nothing else of net is public.
 * What it must never do: know about chat, actors or packets. net moves bytes and
 * reports completions through callbacks; the layer above gives them meaning.
 * Invariant: a net_conn_t names one connection for ever. Once that connection is
 * closed, every function given the old handle returns an error (-EPIPE while the
 * slot is being torn down, -ESTALE once it is recycled) and never touches memory
 * that belongs to another connection.
 *
 * Shape (like libuv's uv.h): one API, two backends behind it (io_uring by
 * default, epoll as the fallback). A *port* is one event loop owned by one
 * thread; it holds listeners and connections. The thread that calls
 * net_port_run() is the port's *owner thread*. Functions are marked:
 *   "owner thread only"  call it from the owner thread (or, before the first
 *                        net_port_run(), from the thread that created the port);
 *   "any thread"         safe from any thread at any time while the port lives.
 * Callbacks always run on the owner thread, inside net_port_run() or
 * net_port_destroy(). Errors are 0 / -errno; constructors return NULL and set
 * errno. See docs/net.md for the life of a connection and the send protocol. */
#ifndef RINGCHAT_NET_H
#define RINGCHAT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- buffers */

/* A reference-counted byte buffer. Allocate it, fill it, then treat it as
 * immutable: once it has been passed to net_conn_send() it may sit in many
 * outboxes at once (a room broadcast is encoded once and queued to every
 * member), so nobody may write to it any more. Opaque. */
typedef struct net_buf net_buf_t;

/* Allocate a writable buffer of `len` bytes with one reference (yours).
 * Small sizes come from per-thread pools (no malloc once warm); a buffer may be
 * released on any thread. Returns NULL (errno ENOMEM) on failure. Any thread. */
net_buf_t *net_buf_alloc(size_t len);

/* The bytes of `b` (writable until the buffer is first shared). Any thread. */
uint8_t *net_buf_data(net_buf_t *b);

/* The length of `b` in bytes. Any thread. */
size_t net_buf_len(const net_buf_t *b);

/* Shrink `b` to `len` bytes (len <= the allocated length), for encoders that
 * allocate a maximum and fill less. Only before the buffer is shared. */
void net_buf_truncate(net_buf_t *b, size_t len);

/* Take one more reference on `b`; returns `b`. Any thread. */
net_buf_t *net_buf_ref(net_buf_t *b);

/* Drop one reference; the last one returns the buffer to a pool. NULL is
 * ignored. Any thread. */
void net_buf_unref(net_buf_t *b);

/* The current reference count (a racy snapshot, for tests and diagnostics). */
uint32_t net_buf_refcount(const net_buf_t *b);

/* ------------------------------------------------------------ ports, config */

/* One event loop owned by one thread: a completion ring (io_uring) or an epoll
 * set, its listeners and its connections. Opaque. */
typedef struct net_port net_port_t;

/* A connection handle: a value, cheap to copy and to keep in messages. `id`
 * packs the connection's slot index (low 32 bits) and the slot's generation
 * (high 32 bits); the generation changes when the slot is recycled, which is how
 * stale handles are detected. Treat both fields as opaque. The all-zero value
 * (NET_CONN_NULL) is never a live connection. A handle must not be used after
 * its port has been destroyed. */
typedef struct net_conn {
    net_port_t *port;
    uint64_t id;
} net_conn_t;

#define NET_CONN_NULL ((net_conn_t){NULL, 0})

/* Which backend a port uses. AUTO tries io_uring and falls back to epoll when
 * the kernel refuses io_uring (ENOSYS, EPERM as under Docker's default seccomp
 * profile, EINVAL), logging one line that says why. */
typedef enum net_backend {
    NET_BACKEND_AUTO = 0,
    NET_BACKEND_URING,
    NET_BACKEND_EPOLL,
} net_backend_t;

/* Why a connection was closed (the argument of on_close). */
typedef enum net_close_reason {
    NET_CLOSE_PEER = 1,      /* the peer closed its side (end of stream) */
    NET_CLOSE_RESET,         /* the peer reset the connection (ECONNRESET, EPIPE) */
    NET_CLOSE_ERROR,         /* any other I/O error */
    NET_CLOSE_SLOW_CONSUMER, /* the outbox grew past outbox_limit */
    NET_CLOSE_LOCAL,         /* net_conn_close() was called */
    NET_CLOSE_SHUTDOWN,      /* the port was destroyed */
} net_close_reason_t;

/* A log hook: receives one line, without a trailing newline and without a
 * "net: " prefix (the default hook adds it when it prints to stderr). */
typedef void (*net_log_fn)(void *log_udata, const char *line);

/* Port configuration. Fill it with net_config_init(), then change fields. */
typedef struct net_config {
    net_backend_t backend;      /* AUTO (default), URING or EPOLL */
    size_t outbox_limit;        /* bytes queued per connection before it is closed
                                 * as a slow consumer; default 8 MiB; 0 = no limit */
    uint32_t recv_buf_size;     /* bytes per receive buffer; default 16 KiB */
    uint32_t recv_buf_count;    /* buffers in the io_uring provided-buffer ring
                                 * (rounded up to a power of two); default 256 */
    uint32_t max_conns;         /* connections per port; default 16384 */
    uint32_t ring_entries;      /* io_uring submission queue size; default 256
                                 * (the completion queue is 8x larger) */
    net_buf_t *overflow_notice; /* optional bytes sent (best effort) before a
                                 * slow-consumer close, e.g. a pre-encoded
                                 * ERROR_NTF 6; the port takes its own reference */
    net_log_fn log;             /* default: one line to stderr */
    void *log_udata;
} net_config_t;

/* Completion callbacks, all run on the owner thread. `udata` is the pointer
 * given to net_port_create(). A callback may call any net function except
 * net_port_run() and net_port_destroy(). */
typedef struct net_callbacks {
    /* A connection was accepted. It is open; receiving starts after this
     * returns, so the callback may attach per-connection data first. */
    void (*on_accept)(net_conn_t conn, void *udata);
    /* Bytes arrived. `data` is valid only during the call: copy what you keep.
     * Not called after the connection starts closing. */
    void (*on_data)(net_conn_t conn, const uint8_t *data, size_t len, void *udata);
    /* The connection is closed: its socket is gone, every queued buffer has
     * been released and no other callback will follow for it. Called exactly
     * once per accepted connection. The handle is already dead (sends fail). */
    void (*on_close)(net_conn_t conn, net_close_reason_t reason, void *udata);
    /* Optional. The peer has finished sending (end of stream: it shut down
     * its side, or closed; which one shows only when a send fails). The
     * connection stays open for sending and receives nothing more; call
     * net_conn_close(conn, true) once the answers are queued, so that a
     * client that sends its requests and then half-closes still gets them
     * (the close then counts as NET_CLOSE_PEER). Without this callback, end
     * of stream closes the connection at once and drops queued output. */
    void (*on_eof)(net_conn_t conn, void *udata);
} net_callbacks_t;

/* Counters of one port (a relaxed snapshot; any thread). */
typedef struct net_stats {
    uint64_t accepted;      /* connections accepted */
    uint64_t closed;        /* connections closed (on_close calls) */
    uint64_t bytes_in;      /* bytes delivered to on_data */
    uint64_t bytes_out;     /* bytes written to sockets */
    uint64_t sends;         /* send operations completed */
    uint64_t partial_sends; /* sends that wrote less than was offered */
    uint64_t recv_enobufs;  /* io_uring receives that ran out of buffers */
    uint64_t accept_pauses; /* times accepting paused (EMFILE, ENFILE, table full) */
    uint64_t wakeups;       /* cross-thread wake-ups received */
    uint64_t cq_overflows;  /* io_uring completion-queue overflows seen */
    uint64_t slow_closes;   /* slow-consumer closes */
} net_stats_t;

/* Fill `cfg` with the defaults. */
void net_config_init(net_config_t *cfg);

/* Parse "auto", "uring"/"io_uring" or "epoll". Returns 0 or -EINVAL. */
int net_backend_parse(const char *name, net_backend_t *out);

/* Can `backend` be set up on this machine (AUTO: either one)? Returns 0 or
 * the -errno the kernel gave (e.g. -EPERM when io_uring is blocked). Logs
 * nothing. Any thread. */
int net_backend_probe(net_backend_t backend);

/* Human-readable name of a close reason ("peer", "reset", ...). */
const char *net_close_reason_name(net_close_reason_t reason);

/* Create a port. Copies `cfg` (NULL = defaults) and `cb`. Returns NULL with
 * errno set on failure; with backend URING and io_uring refused, errno is the
 * kernel's answer (ENOSYS, EPERM, EINVAL...). Any thread. */
net_port_t *net_port_create(const net_config_t *cfg, const net_callbacks_t *cb, void *udata);

/* Listen on addr:tcp_port (IPv4 dotted quad, NULL = 127.0.0.1) with
 * SO_REUSEPORT, so every worker's port can listen on the same address and the
 * kernel spreads connections among them. tcp_port 0 binds an ephemeral port:
 * read it with net_port_bound_port() and pass it to the other ports. Returns 0
 * or -errno. Owner thread only (usually called before the first run). */
int net_port_listen(net_port_t *port, const char *addr, uint16_t tcp_port);

/* The TCP port of the port's first listener (host order), 0 if none. Any thread
 * after net_port_listen() returned. */
uint16_t net_port_bound_port(const net_port_t *port);

/* One turn of the loop: run owner-side work (flush outboxes, handle closes),
 * submit pending I/O, wait up to `timeout_ms` (-1 = until something happens, 0 =
 * do not wait) for completions or a wake-up, then reap a batch of completions
 * and call the callbacks. Returns the number of events handled (>= 0) or -errno.
 * The calling thread becomes the owner thread: always call it from the same one.
 * Owner thread only. */
int net_port_run(net_port_t *port, int timeout_ms);

/* Make a net_port_run() that is waiting (or the next one) return promptly.
 * Coalesced: many wakes before the owner runs cost one system call; from the
 * owner thread itself it costs none. Any thread. */
void net_port_wake(net_port_t *port);

/* Close every connection (on_close with NET_CLOSE_SHUTDOWN) and listener, wait
 * until the kernel has finished every operation that references port memory,
 * then free everything. Call it when no thread runs the port any more and no
 * other thread sends to its connections; the calling thread becomes the owner
 * for the callbacks it makes. */
void net_port_destroy(net_port_t *port);

/* "io_uring" or "epoll". Any thread. */
const char *net_backend_name(const net_port_t *port);

/* Number of connections currently open or closing on the port. Any thread. */
uint32_t net_port_conn_count(const net_port_t *port);

/* Counters of the port. Any thread. */
void net_port_stats(const net_port_t *port, net_stats_t *out);

/* Bytes queued in the outboxes of the port's connections and not yet
 * written (a relaxed sum; it walks the whole connection table, so it is for
 * a metrics scrape, not for a hot path). Any thread. */
uint64_t net_port_outbox_bytes(const net_port_t *port);

/* Memory of the buffer and outbox-node pools (any port, any thread). */
typedef struct net_pool_stats {
    uint64_t bytes;       /* malloc'ed by the pools: in use plus cached, and magazines */
    uint64_t depot_bytes; /* free, in the shared depots (trim gives it back) */
} net_pool_stats_t;

/* A relaxed snapshot, for a metrics scrape. Any thread. */
void net_pool_stats(net_pool_stats_t *out);

/* Gives what the pools cache beyond their working set back to malloc: the
 * calling thread's spare magazines and every depot. Returns the bytes freed.
 * Any thread; each worker should call it every few seconds (its own cache
 * can only be trimmed by itself). Cold path: frees one object at a time. */
size_t net_pool_trim(void);

/* ------------------------------------------------------------- connections */

/* The single send path. Queue a reference to `b` on the connection's outbox
 * (lock-free, multi-producer) and wake the owner thread if no flush is pending
 * yet. The caller keeps its own reference. Bytes from one thread leave in the
 * order that thread queued them. Returns:
 *   0          queued (it will be written unless the connection dies first);
 *   -ESTALE    `c` does not name a live connection (closed and recycled, or never
 *              valid);
 *   -EPIPE     the connection is closing;
 *   -ENOBUFS   the outbox would exceed outbox_limit: the connection is now
 *              closing as a slow consumer and `b` was not queued;
 *   -EINVAL    `b` is NULL.
 * No reference is taken on failure. Any thread. */
int net_conn_send(net_conn_t c, net_buf_t *b);

/* Ask for the connection to close. With `flush_first`, what is already queued
 * is written first (new sends fail with -EPIPE); a later call with
 * flush_first = false turns it into an immediate close. Returns 0, -ESTALE or
 * -EPIPE (already closing). on_close follows on the owner thread with
 * NET_CLOSE_LOCAL. Any thread. */
int net_conn_close(net_conn_t c, bool flush_first);

/* Bytes queued on the connection's outbox and not yet written (a snapshot), or
 * 0 for a stale handle. Any thread. */
size_t net_conn_outbox_bytes(net_conn_t c);

/* Attach / read a per-connection pointer for the layer above (NULL at accept).
 * Owner thread only; set returns -ESTALE for a dead handle. */
int net_conn_set_udata(net_conn_t c, void *udata);
void *net_conn_udata(net_conn_t c);

/* True if the two handles name the same connection. */
static inline bool net_conn_equal(net_conn_t a, net_conn_t b)
{
    return a.port == b.port && a.id == b.id;
}

/* The port that owns the connection. */
static inline net_port_t *net_conn_port(net_conn_t c)
{
    return c.port;
}

#endif /* RINGCHAT_NET_H */
