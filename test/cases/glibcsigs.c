// build: gcc -O2 -g -Wall -Wextra -o glibcsigs glibcsigs.c
/*
 * glibcsigs.c - signals 32 and 33, which glibc keeps for itself (SIGTIMER/SIGCANCEL of
 * SIGEV_THREAD timers and thread cancellation, SIGSETXID), pending at checkpoint come back
 * pending with their siginfo, and are not delivered early by the restart.
 *
 *   glibcsigs --out FILE
 *
 * Blocks 32 and 33 with the raw rt_sigprocmask (glibc's sigprocmask refuses to), queues 32
 * (si_code SI_QUEUE, value 77) and 33 (value 78) to itself with rt_tgsigqueueinfo, waits for
 * SIGTERM; then both must still be pending, blocked, and come out of rt_sigtimedwait with their
 * values. (glibc's SIGEV_THREAD timers leave a pending 32 in their helper thread whenever a
 * timer fires during a checkpoint: the zdtm pthread_timers case.)
 */
#include "case.h"

#include <sys/syscall.h>

static int queue(int sig, int value)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = value;
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), sig, &si);
}

static uint64_t bit(int sig)
{
	return 1ULL << (sig - 1);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	uint64_t mask = bit(32) | bit(33);
	if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, &mask, NULL, 8) < 0 || queue(32, 77) < 0 || queue(33, 78) < 0)
		case_setup_fail("cannot queue 32 and 33: %s", strerror(errno));
	case_ready();
	case_wait_term();

	uint64_t pending = 0, blocked = 0;
	syscall(SYS_rt_sigpending, &pending, 8);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &blocked, 8);
	if ((blocked & mask) != mask)
		case_fail("32 and 33 are not blocked any more (mask %llx)", (unsigned long long)blocked);
	else if ((pending & mask) != mask)
		case_fail("32 and 33 are not pending any more (pending %llx)", (unsigned long long)pending);
	for (int sig = 32; sig <= 33 && !case_failed; sig++) {
		uint64_t one = bit(sig);
		siginfo_t si;
		struct timespec ts = { 0, 0 };
		int got = (int)syscall(SYS_rt_sigtimedwait, &one, &si, &ts, 8);
		if (got != sig || si.si_code != SI_QUEUE || si.si_value.sival_int != 45 + sig)
			case_fail("signal %d: got %d, code %d, value %d", sig, got, si.si_code, si.si_value.sival_int);
	}
	case_finish();
}
