/* Internal to the plan parser (plan.c, plan_files.c). */
#ifndef UCR_PLAN_PARSE_H
#define UCR_PLAN_PARSE_H
#include "plan.h"

#define NEED(cond)                                                                              \
	do {                                                                                    \
		if (!(cond))                                                                    \
			return proto_fail("plan", w[0], EINVAL, "bad plan line (%s)", #cond);   \
	} while (0)

/* Appends one zeroed element to a growable array. */
#define GROW(arr, n)                                                                            \
	((arr) = realloc((arr), (size_t)((n) + 1) * sizeof *(arr)),                             \
	 (arr) ? (memset(&(arr)[(n)], 0, sizeof *(arr)), &(arr)[(n)++]) : NULL)

char *plan_hex_string(const char *hex);
int plan_u64s(char **w, int from, int count, uint64_t *out);
int plan_find_file(const struct plan *p, int id);
int plan_add_file(struct plan *p, char **w, int n);
int plan_add_pipe(struct plan *p, char **w, int n);
int plan_add_obj(struct plan *p, char **w, int n);
int plan_add_inwatch(struct plan *p, char **w, int n);
int plan_add_flock(struct plan *p, char **w, int n);
int plan_add_fown(struct plan *p, char **w, int n);
int plan_add_tty(struct plan *p, char **w, int n);
int plan_add_ttymodes(struct plan *p, char **w, int n);
int plan_find_tty(const struct plan *p, int index);
/* plan_ipc.c: `shm`, `sem`, `msg` lines */
int plan_add_ipc(struct plan *p, char **w, int n);
/* restore_attrs.c: `sched` and `attrs` lines */
int plan_attrs_line(struct task_plan *t, char **w, int n);
int plan_unix_file(struct file_plan *f, char **w, int n);
int plan_add_sockopts(struct plan *p, char **w, int n);
int plan_inet_file(const struct plan *pl, struct file_plan *f, char **w, int n);
#endif
