/* The objects kind (content objects: shared anonymous memory, memfds, unlinked and tmpfs
 * files, removed directories): dump_object.c checkpoints their contents as OBJECT records,
 * restore_objs.c makes them again, fills and seals them. */
#include <stddef.h>

#include "helper.h"
#include "kind.h"
#include "restore.h"


const struct kind_ops objects_ops = {
	.name = "objects",
	.open = open_objs,
	.obj_known = obj_known,
	.obj_fill = obj_fill,
	.loaded = seal_objs,
};
