/* The unix kind (unix domain sockets): dump_unix.c checkpoints them (sock_diag, queues),
 * restore_unix.c makes them again (bound, connected, refilled). */
#include <stddef.h>

#include "helper.h"
#include "kind.h"
#include "restore.h"

static const int unix_kinds[] = { FILE_UNIX, 0 };

const struct kind_ops unix_ops = {
	.name = "unix",
	.file_kinds = unix_kinds,
	.open = open_unix_sockets,
};
