/* Names of unix sockets at restart (unix_names.c), for restore_unix.c. */
#ifndef UCR_UNIX_H
#define UCR_UNIX_H
#include <limits.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "plan.h"

/* The name of the socket file `id` in messages, into obj. */
static inline void unix_obj(char obj[static 48], int id)
{
	snprintf(obj, 48, "file %d (unix socket)", id);
}

socklen_t unix_addr(const char *name, size_t len, struct sockaddr_un *a);
/* The path of a filesystem name (NUL-terminated in out), or NULL for an abstract one. */
const char *unix_name_path(const char *name, size_t len, char out[109]);
/* The path of u's name, made absolute with its directory (out: PATH_MAX), or NULL (abstract,
 * unnamed). */
const char *unix_path(const struct unix_plan *u, char *out);
/* Binds fd to u's name: a path still linked at checkpoint with its holder's credentials (a
 * stale socket file at the path is replaced; the file gets its owner and mode); an unlinked one
 * out of sight, in a private mount namespace, so that no file at the path is touched. */
int unix_bind(int fd, struct unix_plan *u, const char *obj);
/* fd connects to the socket of the plan `to` (bound out of sight: through its O_PATH fd). */
int unix_connect(int task, int fd, const struct unix_plan *to);
/* The address the helper sends to u at (bound out of sight: through its O_PATH fd). */
socklen_t unix_dest(const struct unix_plan *u, struct sockaddr_un *a);
/* unix_dgram.c: datagrams sent again by their own senders, before any datagram socket
 * connects; then the datagram sockets of the image connected to their peers, in an order the
 * kernel accepts. */
struct restore_ctx;
int unix_send_by_senders(struct restore_ctx *c);
int unix_connect_dgrams(struct restore_ctx *c);
/* Decides which pair ends whose peer was gone are made without a peer (u->alone), before any
 * socket is made: the named datagram sockets that datagrams are sent again to by their senders
 * or that datagram sockets of the image connect to (they could not while it had a peer). */
int unix_pick_alone(struct restore_ctx *c);
/* Those (u->alone): connected, once the others are, to a temporary peer that is closed after
 * the queues. */
int unix_gone_peers(struct restore_ctx *c);
#endif
