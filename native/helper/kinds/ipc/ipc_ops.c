/* The ipc kind (System V shared memory, semaphores, message queues): dump_ipc.c checkpoints
 * the namespace's objects, restore_ipc.c makes them before any task exists (undone if the
 * restart fails) and fills the segments from SHM records. */
#include <stddef.h>

#include "helper.h"
#include "kind.h"
#include "restore.h"


const struct kind_ops ipc_ops = {
	.name = "ipc",
	.create = ipc_create,
	.shm_record = ipc_shm_payload,
	.shm_id = ipc_shm_id,
	.release = ipc_release,
	.undo = ipc_undo,
};
