// build: gcc -O2 -g -Wall -Wextra -pthread -o robust robust.c
/*
 * robust.c - robust futex lists survive: a thread or process that dies holding a robust mutex
 * leaves it EOWNERDEAD for the next locker, as the kernel walks the dead one's robust list.
 *
 *   robust --out FILE
 *
 * Set up before ready: a second thread locks a robust mutex (process-private) and waits on a
 * pipe; a child process locks a robust process-shared mutex in shared memory and waits on a
 * pipe (its main thread's list, set by glibc at start).
 * After SIGTERM: the thread is told to exit and does, holding its mutex; the child is told to
 * exit and does, holding its mutex; locking each mutex then returns EOWNERDEAD (not a wait:
 * a 3 s timed lock), and the mutex works again once marked consistent.
 */
#include "case.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static pthread_mutex_t m1;
static int tgo[2], tready[2];

static void robust_init(pthread_mutex_t *m, int pshared)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (pshared)
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (pthread_mutex_init(m, &a) != 0)
		case_setup_fail("pthread_mutex_init");
}

static void *holder(void *arg)
{
	(void)arg;
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	char c;
	if (pthread_mutex_lock(&m1) != 0 || write(tready[1], "l", 1) != 1)
		return NULL;
	while (read(tgo[0], &c, 1) < 0 && errno == EINTR)
		;
	pthread_exit(NULL); /* still holding m1 */
}

static void check_dead(pthread_mutex_t *m, const char *what)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 3;
	int r = pthread_mutex_timedlock(m, &t);
	if (r != EOWNERDEAD) {
		case_fail("%s: locking the mutex its holder died with gave %s, expected EOWNERDEAD (robust list lost?)", what,
			  case_errname(r));
		if (r == 0)
			pthread_mutex_unlock(m);
		return;
	}
	if (pthread_mutex_consistent(m) != 0 || pthread_mutex_unlock(m) != 0 || pthread_mutex_lock(m) != 0 ||
	    pthread_mutex_unlock(m) != 0)
		case_fail("%s: the mutex does not work once marked consistent", what);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	robust_init(&m1, 0);
	pthread_mutex_t *m2 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m2 == MAP_FAILED)
		case_setup_fail("mmap: %s", strerror(errno));
	robust_init(m2, 1);
	int cgo[2], cready[2];
	if (pipe(tgo) || pipe(tready) || pipe(cgo) || pipe(cready))
		case_setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child == 0) {
		signal(SIGTERM, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test's process (kept by a restart) */
		char c;
		if (pthread_mutex_lock(m2) != 0 || write(cready[1], "l", 1) != 1)
			_exit(3);
		while (read(cgo[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0); /* still holding m2 */
	}
	pthread_t th;
	if (pthread_create(&th, NULL, holder, NULL) != 0)
		case_setup_fail("pthread_create");
	char c;
	if (read(tready[0], &c, 1) != 1 || read(cready[0], &c, 1) != 1)
		case_setup_fail("the holders did not lock their mutexes");

	case_ready();
	case_wait_term();

	if (write(tgo[1], "x", 1) != 1 || pthread_join(th, NULL) != 0)
		case_fail("the thread could not be told to exit");
	else
		check_dead(&m1, "thread");
	int st;
	if (write(cgo[1], "x", 1) != 1 || waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		case_fail("the child did not exit cleanly");
	else
		check_dead(m2, "child process");
	case_finish();
}
