/* directory.c: a room directory shard (see directory.h). Its table is owned
 * by the shard actor alone, so it needs no lock: concurrency is handled by
 * message order, not by a shared structure.
 *
 * The "last member leaves while a new member enters" race, by counting:
 *   D1. the shard counts the enters it forwards to each room (forwarded);
 *   D2. the room counts the enters it handles (enters_seen) and, when it
 *       becomes empty, reports DIR_MSG_EMPTY with that count;
 *   D3. the shard removes the room and tells it to exit only if forwarded ==
 *       enters_seen: then no enter is on its way to the room, and none can
 *       be sent to it later because the table no longer names it;
 *   D4. otherwise an enter is in flight and will make the room non-empty:
 *       the report is stale and ignored (the room reports again when it
 *       next becomes empty).
 * Never blocks; allocates only when a room is created. */
#include "directory.h"

#include <errno.h>
#include <stdlib.h>

#include "hmap.h"
#include "room.h"

typedef struct dir_entry {
    hmap_entry_t link; /* first: the map hands back &link */
    int32_t number;
    uint64_t forwarded; /* D1 */
    actor_ref_t room;
} dir_entry_t;

typedef struct directory {
    const chat_ctx_t *ctx;
    actor_ref_t self;
    hmap_t rooms; /* number -> dir_entry_t */
} directory_t;

static bool same_number(const hmap_entry_t *e, const void *key)
{
    return ((const dir_entry_t *)e)->number == *(const int32_t *)key;
}

static dir_entry_t *find(directory_t *d, int32_t number)
{
    return (dir_entry_t *)hmap_find(&d->rooms, hmap_hash_u64((uint32_t)number), &number,
                                    same_number);
}

/* The room's entry, spawning the room if it has none. NULL: out of memory. */
static dir_entry_t *find_or_spawn(directory_t *d, int32_t number)
{
    dir_entry_t *e = find(d, number);
    if (e != NULL)
        return e;
    e = calloc(1, sizeof(*e));
    if (e == NULL || room_spawn(d->ctx, number, d->self, &e->room) != 0) {
        free(e);
        return NULL;
    }
    e->number = number;
    e->link.hash = hmap_hash_u64((uint32_t)number);
    hmap_insert(&d->rooms, &e->link);
    CHAT_COUNT(d->ctx, rooms_created, 1);
    return e;
}

static void on_enter(directory_t *d, msg_t *m)
{
    dir_enter_t req;
    CHAT_GET(m, req);
    dir_entry_t *e = find_or_spawn(d, req.room);
    if (e == NULL) {
        /* Out of memory: the session must still get its answer. 54 is the
         * closest code: the room cannot take a member now. */
        chat_send_result(req.user->conn, PROTO_ROOM_ENTER_RES, PROTO_ENTER_ROOM_FULL_USER);
        session_enter_done_t no = {.result = PROTO_ENTER_ROOM_FULL_USER};
        (void)chat_send(req.user->session, SESSION_MSG_ENTER_DONE, &no, sizeof(no));
        return; /* m->drop releases the user reference */
    }
    room_enter_t fwd = {.user = req.user};
    m->drop = NULL; /* the user reference moves on to the room's message */
    if (chat_send(e->room, ROOM_MSG_ENTER, &fwd, sizeof(fwd)) == 0)
        e->forwarded++;
}

static void on_empty(directory_t *d, const dir_empty_t *rep)
{
    dir_entry_t *e = find(d, rep->room);
    if (e == NULL || !actor_ref_eq(e->room, rep->from) || e->forwarded != rep->enters_seen)
        return;                       /* D4 */
    hmap_remove(&d->rooms, &e->link); /* D3 */
    CHAT_COUNT(d->ctx, rooms_freed, 1);
    msg_t *bye = msg_alloc(ROOM_MSG_EXIT);
    if (bye != NULL)
        (void)actor_send(e->room, bye);
    free(e);
}

static void directory_behaviour(actor_t *self, msg_t *m)
{
    directory_t *d = actor_state(self);
    switch (m->type) {
    case DIR_MSG_ENTER:
        on_enter(d, m);
        break;
    case DIR_MSG_EMPTY: {
        dir_empty_t rep;
        CHAT_GET(m, rep);
        on_empty(d, &rep);
        break;
    }
    }
    msg_free(m);
}

static void free_entry(hmap_entry_t *e)
{
    free(e);
}

static void directory_on_exit(actor_t *self, void *state)
{
    (void)self;
    directory_t *d = state;
    hmap_destroy(&d->rooms, free_entry);
    free(d);
}

static const actor_type_t directory_type = {
    .name = "directory",
    .behaviour = directory_behaviour,
    .on_exit = directory_on_exit,
};

int directory_spawn(const chat_ctx_t *ctx, actor_ref_t *out)
{
    directory_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->ctx = ctx;
    int rc = hmap_init(&d->rooms, 64);
    if (rc == 0)
        rc = actor_spawn(ctx->sched, &directory_type, d, out);
    if (rc != 0) {
        hmap_destroy(&d->rooms, NULL);
        free(d);
        return rc;
    }
    d->self = *out;
    return 0;
}
