/* listener.h: opens the server's listening TCP socket from the configured
 * address. Used once at start-up by main; never touches accepted sockets. */
#ifndef RINGCHAT_LISTENER_H
#define RINGCHAT_LISTENER_H

#include <stdint.h>

/* Binds ADDR:PORT (IPv4 or IPv6 literal or host name; port 0 = any free
 * port), listens, returns the fd (non-blocking, close-on-exec) or -errno.
 * *bound_port receives the port actually bound. On failure a log line says
 * why. */
int listener_open(const char *addr, uint16_t port, int backlog, uint16_t *bound_port);

#endif
