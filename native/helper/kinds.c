/* The registry of object kinds (see core/kind.h): the one place a kind is added. The order is
 * the order of every restart step: content objects before the pipes and sockets that may carry
 * their data, ttys after the sockets, file objects of every kind once the kinds' shared
 * objects exist. */
#include <stddef.h>

#include "kind.h"

extern const struct kind_ops ipc_ops, objects_ops, pipe_ops, unix_ops, inet_ops, tty_ops, file_ops, fds_ops, pidfd_ops,
	rawsock_ops;
extern const struct kind_ops fanotify_ops; /* fsnotify (issue 17) */

const struct kind_ops *const helper_kinds[] = {
	&ipc_ops, &objects_ops, &pipe_ops, &unix_ops, &inet_ops, &tty_ops, &file_ops, &fds_ops, &pidfd_ops, &fanotify_ops, &rawsock_ops, NULL,
};
