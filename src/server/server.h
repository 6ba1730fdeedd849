/* server.h: the running server: W worker threads, each owning one net port
 * (its completion ring and its connections) and driving actor worker W of
 * one shared scheduler. Created and stopped by main; the only place where
 * net, actors and the chat actors are wired together. */
#ifndef RINGCHAT_SERVER_H
#define RINGCHAT_SERVER_H

#include <stdint.h>

#include "config.h"

typedef struct server server_t;

/* Creates the scheduler, the ports and their listeners (nothing runs yet).
 * Returns NULL and a message in err on failure. */
server_t *server_create(const config_t *cfg, char *err, size_t errlen);

/* Starts the worker threads. 0 or -errno. */
int server_start(server_t *srv);

/* Graceful stop: new connections are refused, every client gets ERROR_NTF 8
 * and what is queued for it is flushed; returns when every connection has
 * closed or after timeout_ms, with the workers stopped. */
void server_shutdown(server_t *srv, unsigned timeout_ms);

/* Stops the workers, closes every connection, frees everything. */
void server_destroy(server_t *srv);

uint16_t server_port(const server_t *srv);
unsigned server_threads(const server_t *srv);
const char *server_backend(const server_t *srv);

#endif
