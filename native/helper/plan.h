/* The restore plan the coordinator sends, one line per item (numbers in C syntax, strings hex):
 *   task <pid>                       pidwait <ms>            seed <digest so far>
 *   spool 1     (read the rest of the image into memory before creating anything)
 *   cwd <hex>   umask <n>   comm <hex>   exe <hex>   auxv <hex>   pdeathsig <n>
 *   fd <target> path <hexpath> <open flags> <pos> <cloexec> <group>
 *   fd <target> inherit <helper fd> <cloexec>
 *   vma <start> <end> <prot> <mmap flags> <pgoff> <fill 0|1> <madvise bits> <hexpath|->
 *   vdso <[vvar] group start> <[vdso] start>
 *   mm <start_code> <end_code> <start_data> <end_data> <start_brk> <brk> <start_stack>
 *      <arg_start> <arg_end> <env_start> <env_end>
 *   rseq <ptr> <len> <sig>     sigmask <mask>     rlimit <res> <cur> <max>
 *   sigaction <sig> <handler> <flags> <restorer> <mask>
 *   regs <hex user_regs_struct>     xstate <hex>
 *   run <task index> <addr> <npages>
 *   end
 */
#ifndef UCR_PLAN_H
#define UCR_PLAN_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "../include/ucr_compat.h"
#include "image.h"

enum fd_kind { FD_PATH = 1, FD_INHERIT = 2 };

struct fd_plan {
	int target;
	enum fd_kind kind;
	char *path;
	int flags;
	uint64_t pos;
	int cloexec;
	int group;  /* FD_PATH: fds with one group share one open file */
	int srcfd;  /* FD_INHERIT: the helper's fd */
	int tmp;    /* child-side temporary */
};

/* madvise bits */
#define MADV_BIT_HUGEPAGE 1
#define MADV_BIT_NOHUGEPAGE 2
#define MADV_BIT_DONTFORK 4
#define MADV_BIT_WIPEONFORK 8
#define MADV_BIT_DONTDUMP 16

struct vma_plan {
	uint64_t start, end, pgoff;
	int prot, flags, fill;
	unsigned madv;
	char *path; /* NULL: anonymous */
};

struct sigact_plan {
	int set;
	uint64_t handler, flags, restorer, mask;
};

struct rlimit_plan {
	int set;
	uint64_t cur, max;
};

struct task_plan {
	pid_t pid;
	int pid_wait_ms;
	int spool;
	char *cwd, *exe;
	int umask;
	char comm[17];
	int pdeathsig;
	struct fd_plan *fds;
	int nfds;
	struct vma_plan *vmas;
	int nvmas;
	uint64_t vvar_start, vdso_start;
	struct ucr_prctl_mm_map mm;
	int have_mm;
	unsigned char auxv[1024];
	size_t auxv_len;
	uint64_t rseq_ptr, rseq_sig;
	uint32_t rseq_len;
	uint64_t sigmask;
	struct sigact_plan act[65];
	struct rlimit_plan rlim[16];
	struct user_regs_struct regs;
	int have_regs;
	unsigned char xstate[16384];
	size_t xstate_len;
	struct page_run *runs;
	size_t nruns;
	uint32_t seed;
};

/* Reads plan lines until `end`; reports a protocol error and returns -1 on bad input. */
int plan_read(struct task_plan *p);
#endif
