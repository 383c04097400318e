/* The inet kind (TCP and UDP sockets): dump_inet.c and tcp_lock.c checkpoint them (the lock
 * and the keeper), restore_inet.c makes them again (repair mode until the tasks resume). */
#include <stddef.h>

#include "helper.h"
#include "kind.h"
#include "restore.h"

/* the checkpoint ends: a released tree's connections leave repair mode and lose their lock
 * filters; a killed tree's outside connections stay with the keeper */
static void inet_dump_end(int killed)
{
	if (killed) {
		keeper_commit();
		return;
	}
	tcprepair_undo();
	tcplock_undo();
}

static const int inet_kinds[] = { FILE_INET, 0 };

const struct kind_ops inet_ops = {
	.name = "inet",
	.dump_end = inet_dump_end,
	.file_kinds = inet_kinds,
	.open = open_inet_sockets,
	.resume = inet_release,
};
