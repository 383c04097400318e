// build: gcc -O2 -g -Wall -Wextra -pthread -o rtqueue rtqueue.c
/*
 * rtqueue.c - hundreds of queued real-time signals, process-wide and thread-directed, come back
 * with their siginfo, in order.
 *
 *   rtqueue --out FILE
 *
 * Set up before ready, with the signals blocked: 300 sigqueue()s of SIGRTMIN+1 and 200 of
 * SIGRTMIN to the process (values 0..299 and 1000..1199, interleaved), and a second thread
 * queues 150 SIGRTMIN+2 to itself (pthread_sigqueue, values 5000..5149).
 * After SIGTERM: sigtimedwait() returns the 500 process-wide ones, SIGRTMIN first, each
 * signal's in the order sent, with SI_QUEUE and this process as sender; the thread then takes
 * its 150 the same way; nothing else is pending.
 */
#include "case.h"

#include <pthread.h>

#define NP1 300
#define NP0 200
#define NT 150

static int go[2], back[2]; /* main -> thread (verdict request), thread -> main (ready) */
static char thread_fail[256];

static void drain(int sig, int n, int first, char *err, size_t errlen)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	struct timespec zero = { 0, 0 };
	for (int i = 0; i < n; i++) {
		siginfo_t si;
		int got = sigtimedwait(&s, &si, &zero);
		if (got != sig) {
			snprintf(err, errlen, "signal %d: only %d of %d were pending (%s)", sig, i, n, case_errname(errno));
			return;
		}
		if (si.si_code != SI_QUEUE || si.si_pid != getpid() || si.si_value.sival_int != first + i) {
			snprintf(err, errlen, "signal %d #%d: code %d pid %d value %d, expected SI_QUEUE, pid %d, value %d", sig, i,
				 si.si_code, (int)si.si_pid, si.si_value.sival_int, (int)getpid(), first + i);
			return;
		}
	}
	if (sigtimedwait(&s, NULL, &zero) != -1)
		snprintf(err, errlen, "signal %d: more than %d were pending", sig, n);
}

static void *thread_main(void *arg)
{
	(void)arg;
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM); /* SIGTERM is for the main thread */
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	for (int i = 0; i < NT; i++)
		if (pthread_sigqueue(pthread_self(), SIGRTMIN + 2, (union sigval){ .sival_int = 5000 + i }) != 0)
			snprintf(thread_fail, sizeof thread_fail, "setup: pthread_sigqueue #%d failed", i);
	char c;
	if (write(back[1], "r", 1) != 1 || read(go[0], &c, 1) != 1) /* ready; then wait for the verdict request */
		snprintf(thread_fail, sizeof thread_fail, "the thread's pipe broke");
	else if (!thread_fail[0])
		drain(SIGRTMIN + 2, NT, 5000, thread_fail, sizeof thread_fail);
	return NULL;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	sigset_t s;
	sigemptyset(&s);
	for (int i = 0; i < 3; i++)
		sigaddset(&s, SIGRTMIN + i);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	for (int i = 0, a = 0, b = 0; i < NP1 + NP0; i++) {
		int r = (i % 5 < 3 && a < NP1) || b >= NP0 ? sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = a++ })
							  : sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = 1000 + b++ });
		if (r != 0)
			case_setup_fail("sigqueue #%d: %s", i, strerror(errno));
	}
	if (pipe(go) != 0 || pipe(back) != 0)
		case_setup_fail("pipe: %s", strerror(errno));
	pthread_t th;
	if (pthread_create(&th, NULL, thread_main, NULL) != 0)
		case_setup_fail("pthread_create");
	char c;
	if (read(back[0], &c, 1) != 1 || thread_fail[0])
		case_setup_fail("thread: %s", thread_fail);

	case_ready();
	case_wait_term();

	char err[256] = "";
	drain(SIGRTMIN, NP0, 1000, err, sizeof err);
	if (!err[0])
		drain(SIGRTMIN + 1, NP1, 0, err, sizeof err);
	if (err[0])
		case_fail("process-wide: %s", err);
	if (write(go[1], "v", 1) != 1)
		case_fail("cannot wake the thread");
	pthread_join(th, NULL);
	if (thread_fail[0])
		case_fail("thread: %s", thread_fail);
	case_finish();
}
