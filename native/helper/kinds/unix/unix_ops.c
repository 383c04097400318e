/* The unix kind (unix domain sockets): dump_unix.c checkpoints them (sock_diag, queues),
 * restore_unix.c makes them again (bound, connected, refilled). */
#include <stddef.h>

#include "helper.h"
#include "kind.h"
#include "restore.h"

void unix_dump_end(int killed); /* dump_unix.c: the descriptors in flight it kept */

static const int unix_kinds[] = { FILE_UNIX, 0 };

const struct kind_ops unix_ops = {
	.name = "unix",
	.file_kinds = unix_kinds,
	.dump_end = unix_dump_end,
	.open = open_unix_sockets,
	.finish = unix_finish,
};
