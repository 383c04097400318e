// build: gcc -O2 -g -Wall -Wextra -pthread -o procattrs procattrs.c
/*
 * procattrs.c - process and thread attributes a program can read back come back as they were.
 *
 *   procattrs --out FILE [--user | --setuid]
 *
 * Per thread: the scheduling policy and its parameters (sched_getattr: SCHED_BATCH with nice 7
 * on the main thread, SCHED_IDLE, SCHED_OTHER with nice 3, and without --user SCHED_FIFO 10 with
 * SCHED_RESET_ON_FORK and SCHED_RR 5 with nice -4) and the personality of every thread
 * (ADDR_NO_RANDOMIZE | UNAME26, also in a thread); per process: oom_score_adj (345), the
 * membarrier registrations (private expedited and its rseq flavour: a private expedited
 * barrier works, none that was not registered does), mlockall(MCL_CURRENT | MCL_FUTURE) (a
 * new mapping after the restart is locked too: VmFlags "lo"; without --user) and the loginuid
 * (1234; without --user). --user: only what an unprivileged process may set itself (the case
 * runs as a user). --setuid: everything as root but mlockall (16 MiB locked with mlock instead,
 * twice nobody's RLIMIT_MEMLOCK), then the process becomes user nobody (setresuid): its memory
 * stays locked (VmLck), its real-time threads keep their priority. The main thread's parent-death
 * signal (SIGURG, set last: a change of credentials clears it) comes back too.
 * Waits for SIGTERM, then compares everything with what it recorded.
 */
#include "case.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <libgen.h>
#include <sys/syscall.h>

#ifndef MEMBARRIER_CMD_GET_REGISTRATIONS
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)
#endif
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 1
#endif

struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t prio;
	uint64_t runtime, deadline, period;
	uint32_t umin, umax;
};

#define N 4
static int user, setuid_after;
static pid_t tids[N + 1];
static struct attr want[N + 1];
static unsigned long pers[N + 1];
static volatile int stop;
static pthread_barrier_t ready;

static int getattr(pid_t tid, struct attr *a)
{
	memset(a, 0, sizeof *a);
	return (int)syscall(SYS_sched_getattr, tid, a, sizeof *a, 0);
}

static unsigned long personality_of(pid_t tid)
{
	char path[64], buf[32] = "";
	snprintf(path, sizeof path, "/proc/self/task/%d/personality", tid);
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = 0;
		close(fd);
	}
	return strtoul(buf, NULL, 16);
}

static int setattr(pid_t tid, uint32_t policy, uint64_t flags, int nice, uint32_t prio)
{
	if (setpriority(PRIO_PROCESS, (id_t)tid, nice) < 0)
		return -1;
	struct attr a = { .size = 48, .policy = policy, .flags = flags, .nice = nice, .prio = prio };
	return (int)syscall(SYS_sched_setattr, tid, &a, 0);
}

static void *worker(void *arg)
{
	long i = (long)arg;
	tids[i] = (pid_t)syscall(SYS_gettid);
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	if (i == 4 && personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0) /* this thread's only */
		case_setup_fail("personality in a thread: %s", strerror(errno));
	pthread_barrier_wait(&ready);
	while (!stop) {
		struct timespec t = { 0, 2000000 };
		nanosleep(&t, NULL);
	}
	return NULL;
}

static long registrations(void)
{
	return syscall(SYS_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0);
}

static int locked_new_mapping(void)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	static char buf[1 << 20];
	int fd = open("/proc/self/smaps", O_RDONLY), locked = 0;
	size_t len = 0;
	ssize_t n;
	while (fd >= 0 && len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	if (fd >= 0)
		close(fd);
	buf[len] = 0;
	char head[64];
	snprintf(head, sizeof head, "%lx-", (unsigned long)p);
	char *m = strstr(buf, head), *vf = m ? strstr(m, "VmFlags:") : NULL;
	if (vf) {
		char *nl = strchr(vf, '\n');
		if (nl)
			*nl = 0;
		locked = strstr(vf, " lo") != NULL;
	}
	munmap(p, 8192);
	return locked;
}

static long vmlck_kb(void)
{
	static char buf[8192];
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	char *v = strstr(buf, "VmLck:");
	return v ? strtol(v + 6, NULL, 10) : -1;
}

static int read_int_file(const char *path, long *v)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	*v = strtol(buf, NULL, 10);
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	user = case_has_flag(argc, argv, "--user");
	setuid_after = case_has_flag(argc, argv, "--setuid");
	pthread_barrier_init(&ready, NULL, N + 1);
	pthread_t th[N];
	for (long i = 1; i <= N; i++)
		if (pthread_create(&th[i - 1], NULL, worker, (void *)i))
			case_setup_fail("pthread_create");
	pthread_barrier_wait(&ready);
	tids[0] = getpid();
	/* main: BATCH nice 7; 1: IDLE; 2: OTHER nice 3; 3: FIFO 10 reset-on-fork (user: OTHER 11);
	 * 4: RR 5 nice -4 (user: BATCH 19) */
	struct { uint32_t policy; uint64_t flags; int nice; uint32_t prio; } plan[N + 1] = {
		{ SCHED_BATCH, 0, 7, 0 }, { SCHED_IDLE, 0, 0, 0 }, { SCHED_OTHER, 0, 3, 0 },
		{ SCHED_FIFO, SCHED_FLAG_RESET_ON_FORK, 0, 10 }, { SCHED_RR, 0, -4, 5 },
	};
	if (user) {
		plan[3] = (typeof(plan[3])){ SCHED_OTHER, 0, 11, 0 };
		plan[4] = (typeof(plan[4])){ SCHED_BATCH, 0, 19, 0 };
	}
	for (int i = 0; i <= N; i++) {
		if (setattr(tids[i], plan[i].policy, plan[i].flags, plan[i].nice, plan[i].prio) < 0)
			case_setup_fail("sched_setattr(%d, policy %u): %s", i, plan[i].policy, strerror(errno));
		if (getattr(tids[i], &want[i]) < 0)
			case_setup_fail("sched_getattr: %s", strerror(errno));
	}
	if (personality(PER_LINUX | ADDR_NO_RANDOMIZE | UNAME26) < 0)
		case_setup_fail("personality: %s", strerror(errno));
	for (int i = 0; i <= N; i++)
		pers[i] = personality_of(tids[i]);
	if (pers[0] == pers[1] || pers[4] == pers[1])
		case_setup_fail("personality did not change");
	if (write_file("/proc/self/oom_score_adj", "345") < 0)
		case_setup_fail("oom_score_adj: %s", strerror(errno));
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) < 0 ||
	    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0) < 0)
		case_setup_fail("membarrier register: %s", strerror(errno));
	long regs = registrations();
	if (regs < 0)
		case_setup_fail("membarrier registrations: %s", strerror(errno));
	if (setuid_after) {
		char *big = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (big == MAP_FAILED || mlock(big, 16 << 20) < 0)
			case_setup_fail("mlock: %s", strerror(errno));
	}
	if (!user) {
		if (!setuid_after && mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
			case_setup_fail("mlockall: %s", strerror(errno));
		if (!setuid_after && locked_new_mapping() != 1)
			case_setup_fail("a new mapping is not locked after mlockall");
		if (write_file("/proc/self/loginuid", "1234") < 0)
			case_setup_fail("loginuid: %s", strerror(errno));
	}
	long vmlck = -1;
	if (setuid_after) {
		char dir[PATH_MAX];
		strcpy(dir, case_out);
		/* its directory and output files become nobody's, as a service dropping privilege
		 * would arrange: a restart opens them again with the task's credentials */
		if (chmod(dirname(dir), 0777) < 0 || fchown(1, 65534, 65534) < 0 || fchown(2, 65534, 65534) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			case_setup_fail("setuid: %s", strerror(errno));
		vmlck = vmlck_kb();
		if (vmlck <= 0)
			case_setup_fail("no memory locked after setuid");
	}
	/* per thread, cleared by a change of credentials: set last, checked after the restart */
	if (prctl(PR_SET_PDEATHSIG, SIGURG) < 0)
		case_setup_fail("PR_SET_PDEATHSIG: %s", strerror(errno));
	case_ready();
	case_wait_term();
	int pdeath = -1;
	if (prctl(PR_GET_PDEATHSIG, &pdeath) < 0 || pdeath != SIGURG)
		case_fail("parent-death signal %d, expected SIGURG", pdeath);
	if (setuid_after && vmlck_kb() != vmlck)
		case_fail("VmLck %ld kB, expected %ld kB", vmlck_kb(), vmlck);

	for (int i = 0; i <= N; i++) {
		struct attr now;
		if (getattr(tids[i], &now) < 0) {
			case_fail("sched_getattr(thread %d): %s", i, strerror(errno));
			break;
		}
		if (now.policy != want[i].policy || now.flags != want[i].flags || now.nice != want[i].nice || now.prio != want[i].prio)
			case_fail("thread %d: policy %u flags %llu nice %d priority %u, expected %u %llu %d %u", i, now.policy,
				  (unsigned long long)now.flags, now.nice, now.prio, want[i].policy, (unsigned long long)want[i].flags,
				  want[i].nice, want[i].prio);
		/* (a process that is not dumpable cannot read /proc/self/task/N/personality: 0400,
		 * root's; the main thread asks the kernel instead) */
		if (setuid_after && i)
			continue;
		unsigned long p = setuid_after ? (unsigned long)personality(0xffffffff) : personality_of(tids[i]);
		if (p != pers[i])
			case_fail("thread %d: personality %lx, expected %lx", i, p, pers[i]);
	}
	long oom = 0;
	if (read_int_file("/proc/self/oom_score_adj", &oom) < 0 || oom != 345)
		case_fail("oom_score_adj %ld, expected 345", oom);
	long r = registrations();
	if (r != regs)
		case_fail("membarrier registrations 0x%lx, expected 0x%lx", r, regs);
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) < 0)
		case_fail("membarrier(PRIVATE_EXPEDITED): %s", strerror(errno));
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) != -1 || errno != EPERM)
		case_fail("membarrier(PRIVATE_EXPEDITED_SYNC_CORE) works, but it was never registered");
	if (!user) {
		if (!setuid_after && locked_new_mapping() != 1)
			case_fail("a new mapping is not locked (mlockall MCL_FUTURE lost)");
		long luid = 0;
		if (read_int_file("/proc/self/loginuid", &luid) < 0 || luid != 1234)
			case_fail("loginuid %ld, expected 1234", luid);
	}
	stop = 1;
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	case_finish();
	return 0;
}
