/* One object kind of the helper (a pipe, a unix or inet socket, a pty, System V IPC, content
 * objects, plain files, event fds): what the checkpoint and the restart do with it, side by
 * side, as one table per kind in kinds/<kind>/<kind>_ops.c. The tables are registered in one
 * place, native/helper/kinds.c (its order is the order of every restart step below), and
 * handed to the checkpoint and the restart by main.c: nothing in checkpoint/ or restore/ names
 * a kind's function, so adding a kind is its folder, its line in kinds.c and binding.gyp.
 *
 * A kind's checkpoint commands are messages of protocol/schema.mjs: their handlers
 * (on_dump_<verb>) live in the kind's folder, dispatched by the generated table.
 *
 * Every hook may be NULL (the kind has nothing to do at that step). Restart hooks get the
 * restart's context (c->plan, c->base: restore.h), never a global. Hooks that fail return -1
 * after proto_fail (one error event naming the object). */
#ifndef UCR_KIND_H
#define UCR_KIND_H
#include <stddef.h>
#include <stdint.h>

struct file_plan;
struct restore_ctx;

struct kind_ops {
	const char *name;

	/* --- checkpoint (ucr-helper dump) --- */
	/* the checkpoint ends, before the tasks are let go: killed 0 (released: the tree runs on,
	 * undo what was changed) or 1 (killed: commit) */
	void (*dump_end)(int killed);

	/* --- restart (ucr-helper restore), in this order --- */
	const int *file_kinds; /* the plan's FILE_* subkinds that are this kind's, ended by 0 */
	int (*create)(struct restore_ctx *c); /* before anything else: objects of their own (System V) */
	int (*open)(struct restore_ctx *c);   /* the kind's objects every task inherits, at high fds */
	/* one file object of the kind (after every kind's open): 0 with fp->hfd set, 1 when each
	 * task holding it opens it (no helper fd), -1 */
	int (*open_file)(struct restore_ctx *c, struct file_plan *fp);
	int (*finish)(struct restore_ctx *c); /* every file object exists (and its locks are taken) */
	/* page records: OBJECT records (content objects by id) and SHM records (System V
	 * segments; see page_sink in image.h); the contents are all in: loaded */
	int (*obj_known)(uint32_t id);
	int (*obj_fill)(uint32_t id, uint64_t off, const void *buf, size_t len);
	int (*shm_record)(const unsigned char *payload, uint64_t plen, uint32_t crc, uint32_t want_crc,
			  uint32_t *digest, int check_only, uint64_t *bytes);
	int (*shm_id)(int image_id); /* the id segment image_id has now, for a task's mapping */
	int (*loaded)(struct restore_ctx *c);
	int (*resume)(struct restore_ctx *c);   /* right before the tasks run */
	void (*release)(struct restore_ctx *c); /* the tasks run and hold their own objects */
	void (*undo)(struct restore_ctx *c); /* the restart failed (also from a signal handler) */
};

/* The kind a plan's FILE_* subkind belongs to, or NULL. */
static inline const struct kind_ops *kind_of_file(const struct kind_ops *const *kinds, int file_kind)
{
	for (; *kinds; kinds++)
		for (const int *f = (*kinds)->file_kinds; f && *f; f++)
			if (*f == file_kind)
				return *kinds;
	return NULL;
}

/* The kind that has a hook (e.g. KIND_WITH(kinds, obj_fill)), or NULL. */
#define KIND_WITH(kinds, hook)                                                                          \
	({                                                                                              \
		const struct kind_ops *const *k_ = (kinds);                                             \
		while (k_ && *k_ && !(*k_)->hook)                                                       \
			k_++;                                                                           \
		k_ ? *k_ : NULL;                                                                        \
	})

/* Every kind's hook, in registry order, called with arg (the restart's context, or the
 * checkpoint's end); KINDS_RUN stops at the first failure (-1). */
#define KINDS_RUN(kinds, hook, arg)                                                                     \
	({                                                                                              \
		int r_ = 0;                                                                             \
		for (const struct kind_ops *const *k_ = (kinds); k_ && *k_ && !r_; k_++)                      \
			if ((*k_)->hook)                                                                \
				r_ = (*k_)->hook(arg) < 0 ? -1 : 0;                                     \
		r_;                                                                                     \
	})
#define KINDS_EACH(kinds, hook, arg)                                                                    \
	do {                                                                                            \
		for (const struct kind_ops *const *k_ = (kinds); k_ && *k_; k_++)                             \
			if ((*k_)->hook)                                                                \
				(*k_)->hook(arg);                                                       \
	} while (0)
#endif
