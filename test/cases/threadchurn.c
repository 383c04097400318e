// build: gcc -O2 -g -Wall -Wextra -pthread -o threadchurn threadchurn.c
/*
 * threadchurn.c - a process whose threads come and go all the time (a pool that spawns
 * short-lived workers) survives, and every worker runs exactly once.
 *
 *   threadchurn --out FILE
 *
 * Two spawner threads create workers without pause, at most 8 alive per spawner: worker k of
 * spawner s adds k+1 to sum[s], counts itself in ran[s], sleeps 0-2 ms and ends; even workers
 * are detached, odd ones joined by their spawner, which checks the value each returns. Ready
 * once each spawner has created 200 workers. After SIGTERM the spawners must still be
 * creating workers (their count advances within 10 s), then they stop, join their last
 * workers and wait (10 s) until every detached one has run; then for each spawner: ran ==
 * created and sum == created*(created+1)/2 (no worker lost, none run twice), and no joined
 * worker returned a wrong value. /proc/self/task must then list the main thread only.
 */
#include "case.h"

#include <pthread.h>
#include <semaphore.h>
#include <sys/syscall.h>

#define SPAWNERS 2
#define LIVE 8

struct spawner {
	pthread_t th;
	int idx;
	sem_t slots;                /* free places for live workers */
	volatile uint64_t created;  /* by the spawner */
	uint64_t ran, sum;          /* by the workers (atomic) */
	char fail[128];             /* the spawner's first failure */
};

struct job {
	struct spawner *sp;
	uint64_t k;
};

static struct spawner sp[SPAWNERS];
static volatile int stopping;

static void *work(void *arg)
{
	struct job j = *(struct job *)arg;
	free(arg);
	__atomic_add_fetch(&j.sp->sum, j.k + 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&j.sp->ran, 1, __ATOMIC_SEQ_CST);
	struct timespec t = { 0, (long)(j.k * 7919 % 2000) * 1000 };
	nanosleep(&t, NULL);
	sem_post(&j.sp->slots);
	return (void *)(uintptr_t)(j.k * 3 + (uint64_t)j.sp->idx);
}

static void *spawn_loop(void *arg)
{
	struct spawner *s = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* workers inherit it: SIGTERM goes to main */
	pthread_t pending = 0;
	uint64_t pending_k = 0;
	while (!stopping) {
		while (sem_wait(&s->slots) != 0)
			;
		struct job *j = malloc(sizeof *j);
		if (!j) {
			snprintf(s->fail, sizeof s->fail, "out of memory");
			break;
		}
		*j = (struct job){ s, s->created };
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		if (j->k % 2 == 0)
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_t t;
		int e;
		while ((e = pthread_create(&t, &attr, work, j)) == EAGAIN)
			case_sleep_ms(1);
		pthread_attr_destroy(&attr);
		if (e) {
			snprintf(s->fail, sizeof s->fail, "pthread_create: %s", strerror(e));
			free(j);
			break;
		}
		uint64_t k = s->created;
		s->created = k + 1;
		if (k % 2) { /* joined: the previous joinable one, so two may live at once */
			if (pending) {
				void *r;
				if (pthread_join(pending, &r) != 0)
					snprintf(s->fail, sizeof s->fail, "pthread_join of worker %llu failed", (unsigned long long)pending_k);
				else if ((uintptr_t)r != pending_k * 3 + (uint64_t)s->idx && !s->fail[0])
					snprintf(s->fail, sizeof s->fail, "worker %llu returned %llu", (unsigned long long)pending_k,
						 (unsigned long long)(uintptr_t)r);
			}
			pending = t;
			pending_k = k;
		}
	}
	if (pending) {
		void *r;
		if (pthread_join(pending, &r) != 0 || (uintptr_t)r != pending_k * 3 + (uint64_t)s->idx)
			if (!s->fail[0])
				snprintf(s->fail, sizeof s->fail, "last joined worker %llu failed", (unsigned long long)pending_k);
	}
	return NULL;
}

static int count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int c = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			c++;
	closedir(d);
	return c;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	for (int i = 0; i < SPAWNERS; i++) {
		sp[i].idx = i;
		sem_init(&sp[i].slots, 0, LIVE);
		if (pthread_create(&sp[i].th, NULL, spawn_loop, &sp[i]))
			case_setup_fail("pthread_create of a spawner");
	}
	int64_t deadline = case_now_ms() + 20000;
	for (int i = 0; i < SPAWNERS; i++)
		while (sp[i].created < 200) {
			if (case_now_ms() > deadline)
				case_setup_fail("spawner %d created only %llu workers", i, (unsigned long long)sp[i].created);
			case_sleep_ms(1);
		}
	case_ready();
	case_wait_term();

	for (int i = 0; i < SPAWNERS; i++) {
		uint64_t at = sp[i].created;
		deadline = case_now_ms() + 10000;
		while (sp[i].created < at + 100 && case_now_ms() < deadline)
			case_sleep_ms(1);
		if (sp[i].created < at + 100)
			case_fail("spawner %d stopped creating workers (%llu, then %llu)", i, (unsigned long long)at,
				  (unsigned long long)sp[i].created);
	}
	stopping = 1;
	for (int i = 0; i < SPAWNERS; i++) {
		if (pthread_join(sp[i].th, NULL))
			case_fail("pthread_join of spawner %d failed", i);
		if (sp[i].fail[0])
			case_fail("spawner %d: %s", i, sp[i].fail);
	}
	deadline = case_now_ms() + 10000;
	for (int i = 0; i < SPAWNERS; i++) {
		uint64_t n = sp[i].created;
		while (__atomic_load_n(&sp[i].ran, __ATOMIC_SEQ_CST) < n && case_now_ms() < deadline)
			case_sleep_ms(1);
		uint64_t ran = __atomic_load_n(&sp[i].ran, __ATOMIC_SEQ_CST), sum = __atomic_load_n(&sp[i].sum, __ATOMIC_SEQ_CST);
		if (ran != n)
			case_fail("spawner %d: %llu workers created, %llu ran", i, (unsigned long long)n, (unsigned long long)ran);
		else if (sum != n * (n + 1) / 2)
			case_fail("spawner %d: the %llu workers added %llu, expected %llu (one lost or run twice)", i,
				  (unsigned long long)n, (unsigned long long)sum, (unsigned long long)(n * (n + 1) / 2));
	}
	/* detached workers may still be between sem_post and their end */
	deadline = case_now_ms() + 5000;
	int tasks;
	while ((tasks = count_tasks()) != 1 && case_now_ms() < deadline)
		case_sleep_ms(1);
	if (tasks != 1)
		case_fail("%d threads left after every worker ended", tasks);
	case_finish();
}
