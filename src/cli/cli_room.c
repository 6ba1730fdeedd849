/* cli_room.c: the members of the client's current room, uid -> user id, as
 * learnt from ROOM_USER_LIST_NTF and ROOM_NEW_USER_NTF. ROOM_LEAVE_USER_NTF
 * carries only the uid, so this map is how a leave is printed by name, and
 * it is what /who shows. Called by cli_recv.c and cli_cmd.c; unit-tested.
 * It must never hold two entries with the same uid.
 * Invariant: m[0..n) are the members in arrival order, n <= cap. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t find(const cli_room_t *r, int64_t uid)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->m[i].uid == uid)
            return i;
    return r->n;
}

static void copy_id(char *dst, const char *id)
{
    size_t len = strnlen(id, PROTO_ID_MAX_LEN);
    memcpy(dst, id, len);
    dst[len] = '\0';
}

int cli_room_add(cli_room_t *r, int64_t uid, const char *id)
{
    size_t i = find(r, uid);
    if (i == r->n) {
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 16;
            cli_member_t *m = realloc(r->m, cap * sizeof(*m));
            if (m == NULL)
                return -ENOMEM;
            r->m = m;
            r->cap = cap;
        }
        r->m[r->n++].uid = uid;
    }
    copy_id(r->m[i].id, id);
    return 0;
}

bool cli_room_remove(cli_room_t *r, int64_t uid, char *id_out)
{
    size_t i = find(r, uid);
    if (i == r->n)
        return false;
    copy_id(id_out, r->m[i].id);
    memmove(&r->m[i], &r->m[i + 1], (r->n - i - 1) * sizeof(r->m[0]));
    r->n--;
    return true;
}

void cli_room_clear(cli_room_t *r)
{
    r->n = 0;
}

void cli_room_free(cli_room_t *r)
{
    free(r->m);
    *r = (cli_room_t){0};
}
