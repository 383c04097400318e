/* The tty kind (pty pairs): dump_tty.c checkpoints a pair, restore_tty.c makes it again
 * (before the files), opens its file objects and applies lock and exclusive mode (after). */
#include <stddef.h>

#include "helper.h"
#include "kind.h"
#include "restore.h"

static const struct kind_verb tty_verbs[] = { { "tty", cmd_tty }, { NULL } };
static const int tty_kinds[] = { FILE_PTMX, FILE_PTS, 0 };

const struct kind_ops tty_ops = {
	.name = "tty",
	.verbs = tty_verbs,
	.file_kinds = tty_kinds,
	.open = open_ttys,
	.open_file = open_tty_file,
	.finish = finish_ttys,
};
