// build: gcc -O2 -g -Wall -Wextra -pthread -o signals signals.c
/*
 * signals.c - dispositions, masks, pending and queued signals, sigaltstack, an interval timer
 * and a thread blocked on a condition variable survive.
 *
 *   signals --out FILE
 *
 * Set up: SIGUSR1 handler with SA_RESTART|SA_ONSTACK|SA_SIGINFO and SIGUSR2 in its mask;
 * SIGHUP ignored; an alternate signal stack; SIGUSR2 and SIGRTMIN blocked, SIGUSR2 raised and
 * three SIGRTMIN queued with values 11, 22, 33 (pending); a 50 ms ITIMER_REAL counting
 * SIGALRMs; a thread that blocks SIGRTMIN+1, gets one queued for it alone (value 44), and
 * waits on a condition variable. After SIGTERM each of these is checked, and every other
 * signal's action (1-64, but glibc's 32 and 33, which its first pthread_create sets) is still
 * what it was at the start (the restart's own actions, its SIGTERM handler and ignored
 * SIGPIPE, must not be left).
 */
#include "case.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/time.h>

static volatile sig_atomic_t alarms, usr1_ok;
static char *alt;
static const size_t ALT = 65536;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;
static char thread_result[200];

static void on_alarm(int s) { (void)s; alarms++; }

static void on_usr1(int s, siginfo_t *si, void *uc)
{
	(void)uc;
	char here;
	usr1_ok = s == SIGUSR1 && si && si->si_signo == SIGUSR1 && &here >= alt && &here < alt + ALT;
}

static void *waiter(void *arg)
{
	(void)arg;
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 1);
	sigaddset(&m, SIGTERM);
	sigaddset(&m, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	pthread_mutex_lock(&mu);
	go = 1; /* tells main the mask is in place */
	pthread_cond_broadcast(&cv);
	while (go != 2)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	sigset_t p;
	sigpending(&p);
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 1);
	if (!sigismember(&p, SIGRTMIN + 1))
		snprintf(thread_result, sizeof thread_result, "thread: its pending SIGRTMIN+1 is lost");
	else if (sigtimedwait(&m, &si, &zero) != SIGRTMIN + 1 || si.si_value.sival_int != 44)
		snprintf(thread_result, sizeof thread_result, "thread: SIGRTMIN+1 value %d, expected 44", si.si_value.sival_int);
	else
		snprintf(thread_result, sizeof thread_result, "ok");
	return NULL;
}

struct kact {
	unsigned long handler, flags, restorer, mask;
};

static void action_of(int sig, struct kact *k)
{
	memset(k, 0, sizeof *k);
	syscall(SYS_rt_sigaction, sig, NULL, k, 8);
}

int main(int argc, char **argv)
{
	struct kact start[65];
	for (int s = 1; s <= 64; s++)
		action_of(s, &start[s]);
	case_init(argc, argv);
	case_install_sigterm(0);
	struct sigaction sa = { .sa_sigaction = on_usr1, .sa_flags = SA_RESTART | SA_ONSTACK | SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	alt = malloc(ALT);
	stack_t ss = { .ss_sp = alt, .ss_size = ALT };
	sigaltstack(&ss, NULL);
	struct sigaction al = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &al, NULL);
	sigset_t b;
	sigemptyset(&b);
	sigaddset(&b, SIGUSR2);
	sigaddset(&b, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &b, NULL);
	raise(SIGUSR2);
	for (int v = 11; v <= 33; v += 11)
		sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = v });
	pthread_t th;
	pthread_create(&th, NULL, waiter, NULL);
	pthread_mutex_lock(&mu);
	while (go != 1)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	pthread_sigqueue(th, SIGRTMIN + 1, (union sigval){ .sival_int = 44 });
	struct itimerval it = { { 0, 50000 }, { 0, 50000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	case_ready();
	while (!case_term)
		pause();

	struct sigaction cur;
	sigaction(SIGUSR1, NULL, &cur);
	if (cur.sa_sigaction != on_usr1 || (cur.sa_flags & (SA_RESTART | SA_ONSTACK | SA_SIGINFO)) != (SA_RESTART | SA_ONSTACK | SA_SIGINFO) ||
	    !sigismember(&cur.sa_mask, SIGUSR2))
		case_fail("SIGUSR1 disposition changed (flags 0x%x)", cur.sa_flags);
	sigaction(SIGHUP, NULL, &cur);
	if (cur.sa_handler != SIG_IGN)
		case_fail("SIGHUP is no longer ignored");
	for (int s = 1; s <= 64; s++) {
		struct kact k;
		action_of(s, &k);
		if (s != SIGKILL && s != SIGSTOP && s != SIGUSR1 && s != SIGHUP && s != SIGALRM && s != SIGTERM && s != 32 && s != 33 &&
		    (k.handler != start[s].handler || k.flags != start[s].flags))
			case_fail("signal %d: action %#lx (flags %#lx), %#lx (flags %#lx) at the start", s, k.handler, k.flags,
				  start[s].handler, start[s].flags);
	}
	stack_t now;
	sigaltstack(NULL, &now);
	if (now.ss_sp != alt || now.ss_size != ALT || now.ss_flags != 0)
		case_fail("sigaltstack is %p/%zu/%d", now.ss_sp, now.ss_size, now.ss_flags);
	raise(SIGUSR1);
	if (!usr1_ok)
		case_fail("SIGUSR1 handler did not run on the alternate stack with its siginfo");
	sigset_t p;
	sigpending(&p);
	if (!sigismember(&p, SIGUSR2) || !sigismember(&p, SIGRTMIN))
		case_fail("pending SIGUSR2/SIGRTMIN lost");
	struct timespec zero = { 0, 0 };
	siginfo_t si;
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	for (int v = 11; v <= 33; v += 11)
		if (sigtimedwait(&rt, &si, &zero) != SIGRTMIN || si.si_value.sival_int != v)
			case_fail("queued SIGRTMIN %d: got value %d", v / 11, si.si_value.sival_int);
	if (sigtimedwait(&rt, &si, &zero) != -1)
		case_fail("a fourth SIGRTMIN appeared");
	sigset_t u2;
	sigemptyset(&u2);
	sigaddset(&u2, SIGUSR2);
	if (sigtimedwait(&u2, &si, &zero) != SIGUSR2)
		case_fail("pending SIGUSR2 lost");
	int a0 = alarms;
	for (int i = 0; i < 40 && alarms < a0 + 3; i++)
		usleep(20000);
	if (alarms < a0 + 3)
		case_fail("ITIMER_REAL stopped firing (%d alarms in 800 ms)", alarms - a0);
	pthread_mutex_lock(&mu);
	go = 2;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(th, NULL);
	if (strcmp(thread_result, "ok"))
		case_fail("%s", thread_result);
	case_finish();
}
