/* The tty kind (pty pairs): dump_tty.c checkpoints a pair (`tty`) and the modes of a terminal
 * a task holds from outside (`ttymodes`), restore_tty.c makes a pair again (before the files),
 * opens its file objects and applies lock and exclusive mode (after). The caller's terminal
 * while the restored job has it (its modes from `ttymodes`) is a restart service:
 * restore/job_tty.c. */
#include <stddef.h>

#include "helper.h"
#include "kind.h"
#include "restore.h"

static const int tty_kinds[] = { FILE_PTMX, FILE_PTS, FILE_PTSHUP, FILE_DEVTTY, 0 };

const struct kind_ops tty_ops = {
	.name = "tty",
	.file_kinds = tty_kinds,
	.open = open_ttys,
	.open_file = open_tty_file,
	.finish = finish_ttys,
};
