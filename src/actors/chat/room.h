/* room.h: the room actor, one per non-empty room. Owns the member list;
 * sends every room packet (enter result, user list, join/leave notices,
 * chat notifies) straight to the members' connections. Spawned only by its
 * directory shard (directory.h), which also decides when it exits. */
#ifndef RINGCHAT_ROOM_H
#define RINGCHAT_ROOM_H

#include "chat.h"

/* Spawns the room `number`, reporting emptiness to `dir`. 0 or -ENOMEM. */
int room_spawn(const chat_ctx_t *ctx, int32_t number, actor_ref_t dir, actor_ref_t *out);

#endif
