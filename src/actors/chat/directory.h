/* directory.h: the room directory, as S shard actors (room number mod S).
 * A shard maps room numbers to room actors, spawns a room on its first
 * enter and removes it when it reports itself empty with no enter in flight
 * (docs/chat-design.md). Only sessions (enter) and rooms (empty) talk to it. */
#ifndef RINGCHAT_DIRECTORY_H
#define RINGCHAT_DIRECTORY_H

#include "chat.h"

/* Spawns one shard. 0 or -ENOMEM. */
int directory_spawn(const chat_ctx_t *ctx, actor_ref_t *out);

/* The shard responsible for a room. */
static inline actor_ref_t directory_for(const chat_ctx_t *ctx, int32_t room)
{
    return ctx->dirs[(uint32_t)room % ctx->ndirs];
}

#endif
