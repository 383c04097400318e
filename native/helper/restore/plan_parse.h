/* Internal to the plan reader: the handlers of the plan lines (plan.c, plan_files.c, plan_objs.c
 * and kinds/<kind>/plan_*.c). The lines' words are decoded and type- and range-checked by the
 * generated decoders (native/helper/gen/proto_gen.c, from protocol/schema.mjs); a handler gets
 * the decoded message and checks what only the plan can tell (an id that exists, a task
 * section open, one field against another). */
#ifndef UCR_PLAN_PARSE_H
#define UCR_PLAN_PARSE_H
#include <string.h>

#include "plan.h"
#include "proto_gen.h"

/* The plan being read: the handlers' context. */
struct plan_in {
	struct plan *p;
	struct task_plan *t; /* the task section open, NULL before the first `task` */
	int done;            /* `end` was read */
};

/* the verb of a handler on_plan_<verb> */
static inline const char *plan_verb(const char *func)
{
	return strncmp(func, "on_plan_", 8) ? func : func + 8;
}

#define NEED(cond)                                                                                        \
	do {                                                                                              \
		if (!(cond))                                                                              \
			return proto_fail("plan", plan_verb(__func__), EINVAL, "bad plan line (%s)", #cond); \
	} while (0)

/* The task section a task line belongs to. */
#define TASK(t)                                                                                           \
	struct task_plan *t = in->t;                                                                      \
	NEED(t != NULL)

/* Appends one zeroed element to a growable array. */
#define GROW(arr, n)                                                                            \
	((arr) = realloc((arr), (size_t)((n) + 1) * sizeof *(arr)),                             \
	 (arr) ? (memset(&(arr)[(n)], 0, sizeof *(arr)), &(arr)[(n)++]) : NULL)

/* A copy of a decoded string (NULL stays NULL). */
char *plan_strdup(const char *s);
int plan_find_file(const struct plan *p, int id);
/* Adds the file of a `file.<kind>` line (id checked unique); NULL after reporting a failure. */
struct file_plan *plan_new_file(struct plan *p, uint64_t id, const char *verb);
int plan_find_tty(const struct plan *p, int index);
/* restore_cow.c: a staged run just added (its window offset); the checks after the last line */
int plan_cow_srun(struct plan *p, uint64_t off);
int plan_cow_check(struct plan *p);
#endif
