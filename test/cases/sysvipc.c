// build: gcc -O2 -g -Wall -Wextra -o sysvipc sysvipc.c
/*
 * sysvipc.c - System V shared memory, semaphores and message queues keep their state.
 *
 *   sysvipc --out FILE [--skip] [--partial]
 *
 * Set up (parent): segment A (key K, 3 pages + 100 bytes, mode 0640) attached at a fixed
 * address and filled with a pattern; segment B (private, 2 pages) attached at another fixed
 * address, filled, then removed (IPC_RMID: it lives on, marked for destruction); a semaphore
 * set (key K+1) with values 0 1 7 42; a message queue (key K+2, mode 0620, owner 65534:65534)
 * holding four messages of types 1 5 3 9 (the last 1000 bytes of binary). The ids go to
 * FILE.ipc as ipcrm arguments (the test removes them even on failure). A child inherits both
 * attachments and attaches A once more read-only; it answers requests through A.
 *
 * After SIGTERM: A and B hold their patterns; the child sees a word the parent writes into A
 * (also through its read-only attachment) and answers in A and B (the segments are still shared);
 * A has key K, its mode and 3 attaches, B is marked for destruction with 2; the semaphore values
 * are 0 1 7 42 and key K+1 finds the set; the queue has its owner, mode and the four messages in
 * order with their types, and key K+2 finds it; ids unchanged. With --skip (restarted with
 * --skip ipc after the objects were removed): memory and sharing as before, but the old ids of
 * A, the semaphore set and the queue are gone (EINVAL/EIDRM) and the keys find nothing.
 * --partial: a page in the middle of A is unmapped (a checkpoint must refuse that).
 */
#include "case.h"

#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define ADDR_A ((void *)0x6e0000000000UL)
#define ADDR_B ((void *)0x6e0000100000UL)
#define ADDR_C ((void *)0x6e0000200000UL)
#define SIZE_A (3 * 4096 + 100)
#define SIZE_B (2 * 4096)
#define PAT_LEN (3 * 4096) /* A's pattern; its last 100 bytes carry the request words */
#define REQ_OFF (3 * 4096)
#define REQ 0x5245515545535421ULL
#define ANS_OK 0x414e535745524f4bULL
#define ANS_BAD 0x414e535745524241ULL

union semun_u {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static unsigned char pat_a(size_t i) { return (unsigned char)(i * 13 + 7); }
static unsigned char pat_b(size_t i) { return (unsigned char)(i * 5 + 99); }

static int check_pattern(const unsigned char *p, size_t len, unsigned char (*pat)(size_t))
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(i))
			return (int)i + 1;
	return 0;
}

static volatile uint64_t *word(void *base, size_t off) { return (volatile uint64_t *)((char *)base + off); }

static int a = -1, b = -1, s = -1, q = -1;

/* A set-up failure removes what was created. */
#define SETUP_FAIL(...)                                                         \
	do {                                                                    \
		shmctl(a, IPC_RMID, NULL), shmctl(b, IPC_RMID, NULL);          \
		semctl(s, 0, IPC_RMID), msgctl(q, IPC_RMID, NULL);              \
		case_setup_fail(__VA_ARGS__);                                   \
	} while (0)

static const struct { long type; const char *text; } msgs[] = { { 1, "first" }, { 5, "second message" }, { 3, "third" } };

static void child_main(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		if (*word(ADDR_A, REQ_OFF) == REQ) {
			int ok = !check_pattern(ADDR_A, PAT_LEN, pat_a) && !check_pattern(ADDR_C, PAT_LEN, pat_a) &&
				 *word(ADDR_C, REQ_OFF) == REQ && !check_pattern(ADDR_B, SIZE_B - 8, pat_b);
			*word(ADDR_B, SIZE_B - 8) = REQ; /* the parent checks B is shared too */
			*word(ADDR_A, REQ_OFF + 8) = ok ? ANS_OK : ANS_BAD;
			*word(ADDR_A, REQ_OFF) = 0;
		}
		case_sleep_ms(1);
	}
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int skip = case_has_flag(argc, argv, "--skip");
	key_t key = (key_t)(0x75630000 | (getpid() & 0xfff) << 4);
	a = shmget(key, SIZE_A, IPC_CREAT | IPC_EXCL | 0640);
	b = shmget(IPC_PRIVATE, SIZE_B, IPC_CREAT | 0600);
	s = semget(key + 1, 4, IPC_CREAT | IPC_EXCL | 0600);
	q = msgget(key + 2, IPC_CREAT | IPC_EXCL | 0620);
	char ids[256];
	snprintf(ids, sizeof ids, "-m %d -m %d -s %d -q %d\n", a, b, s, q);
	case_write_aux(".ipc", ids);
	if (a < 0 || b < 0 || s < 0 || q < 0)
		SETUP_FAIL("cannot create the IPC objects: %s", strerror(errno));
	if (shmat(a, ADDR_A, 0) != ADDR_A || shmat(b, ADDR_B, 0) != ADDR_B)
		SETUP_FAIL("shmat at the fixed addresses: %s", strerror(errno));
	for (size_t i = 0; i < PAT_LEN; i++)
		((unsigned char *)ADDR_A)[i] = pat_a(i);
	for (size_t i = 0; i < SIZE_B; i++)
		((unsigned char *)ADDR_B)[i] = pat_b(i);
	if (shmctl(b, IPC_RMID, NULL) < 0)
		SETUP_FAIL("IPC_RMID of B: %s", strerror(errno));
	unsigned short vals[4] = { 0, 1, 7, 42 };
	if (semctl(s, 0, SETALL, (union semun_u){ .array = vals }) < 0)
		SETUP_FAIL("SETALL: %s", strerror(errno));
	struct msqid_ds mq;
	if (msgctl(q, IPC_STAT, &mq) < 0)
		SETUP_FAIL("msgctl: %s", strerror(errno));
	mq.msg_perm.uid = 65534, mq.msg_perm.gid = 65534;
	if (msgctl(q, IPC_SET, &mq) < 0)
		SETUP_FAIL("IPC_SET: %s", strerror(errno));
	static struct { long type; char text[1000]; } m;
	for (size_t i = 0; i < 3; i++) {
		m.type = msgs[i].type;
		strcpy(m.text, msgs[i].text);
		if (msgsnd(q, &m, strlen(msgs[i].text) + 1, 0) < 0)
			SETUP_FAIL("msgsnd: %s", strerror(errno));
	}
	m.type = 9;
	for (size_t i = 0; i < sizeof m.text; i++)
		m.text[i] = (char)(i * 3);
	if (msgsnd(q, &m, sizeof m.text, 0) < 0)
		SETUP_FAIL("msgsnd: %s", strerror(errno));
	pid_t child = fork();
	if (child == 0) {
		if (shmat(a, ADDR_C, SHM_RDONLY) != ADDR_C)
			_exit(2);
		child_main();
	}
	if (child < 0)
		SETUP_FAIL("fork: %s", strerror(errno));
	for (int i = 0; i < 5000; i++) { /* the child's read-only attachment is in place */
		struct shmid_ds ds;
		if (shmctl(a, IPC_STAT, &ds) == 0 && ds.shm_nattch == 3)
			break;
		case_sleep_ms(1);
	}
	if (case_has_flag(argc, argv, "--partial") && munmap((char *)ADDR_A + 4096, 4096) < 0) /* a hole in A */
		SETUP_FAIL("munmap: %s", strerror(errno));
	case_ready();
	while (!case_term)
		pause();

	if (check_pattern(ADDR_A, PAT_LEN, pat_a))
		case_fail("segment A differs at byte %d", check_pattern(ADDR_A, PAT_LEN, pat_a) - 1);
	if (check_pattern(ADDR_B, SIZE_B, pat_b))
		case_fail("segment B differs at byte %d", check_pattern(ADDR_B, SIZE_B, pat_b) - 1);
	*word(ADDR_A, REQ_OFF) = REQ;
	int64_t end = case_now_ms() + 10000;
	while (*word(ADDR_A, REQ_OFF + 8) == 0 && case_now_ms() < end)
		case_sleep_ms(1);
	uint64_t ans = *word(ADDR_A, REQ_OFF + 8);
	if (ans != ANS_OK)
		case_fail(ans == ANS_BAD ? "the child sees other contents" : "the child does not answer through segment A (not shared?)");
	else if (*word(ADDR_B, SIZE_B - 8) != REQ)
		case_fail("the child's write to segment B is not seen (not shared?)");

	struct shmid_ds ds;
	if (skip) {
		if (shmctl(a, IPC_STAT, &ds) == 0 || (errno != EINVAL && errno != EIDRM))
			case_fail("with --skip ipc, the old id of A still works");
		if (semctl(s, 0, GETVAL) != -1 || semget(key + 1, 0, 0) != -1)
			case_fail("with --skip ipc, the semaphore set is there");
		if (msgctl(q, IPC_STAT, &mq) != -1 || msgget(key + 2, 0) != -1)
			case_fail("with --skip ipc, the message queue is there");
		case_finish();
	}
	if (shmctl(a, IPC_STAT, &ds) < 0)
		case_fail("segment A (id %d) is gone: %s", a, strerror(errno));
	else if (ds.shm_perm.__key != key || ds.shm_segsz != SIZE_A || (ds.shm_perm.mode & 0777) != 0640 || ds.shm_nattch != 3)
		case_fail("segment A: key 0x%x size %zu mode %o nattch %lu", ds.shm_perm.__key, ds.shm_segsz,
			  ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
	if (shmget(key, 0, 0) != a)
		case_fail("key 0x%x does not find segment A", key);
	if (shmctl(b, IPC_STAT, &ds) < 0)
		case_fail("segment B (id %d) is gone: %s", b, strerror(errno));
	else if (!(ds.shm_perm.mode & SHM_DEST) || ds.shm_nattch != 2)
		case_fail("segment B: mode %o nattch %lu (expected destroyed, 2)", ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
	unsigned short got[4] = { 9, 9, 9, 9 };
	if (semctl(s, 0, GETALL, (union semun_u){ .array = got }) < 0)
		case_fail("semaphore set %d: %s", s, strerror(errno));
	else if (memcmp(got, vals, sizeof vals))
		case_fail("semaphore values %u %u %u %u", got[0], got[1], got[2], got[3]);
	if (semget(key + 1, 0, 0) != s)
		case_fail("key 0x%x does not find the semaphore set", key + 1);
	struct sembuf op = { 3, -2, IPC_NOWAIT };
	if (semop(s, &op, 1) < 0 || semctl(s, 3, GETVAL) != 40)
		case_fail("semop on the restored set: %s", strerror(errno));
	if (msgget(key + 2, 0) != q)
		case_fail("key 0x%x does not find the message queue", key + 2);
	if (msgctl(q, IPC_STAT, &mq) < 0)
		case_fail("message queue %d: %s", q, strerror(errno));
	else if (mq.msg_perm.uid != 65534 || mq.msg_perm.gid != 65534 || (mq.msg_perm.mode & 0777) != 0620 || mq.msg_qnum != 4)
		case_fail("message queue: uid %u gid %u mode %o qnum %lu", mq.msg_perm.uid, mq.msg_perm.gid, mq.msg_perm.mode,
			  (unsigned long)mq.msg_qnum);
	for (size_t i = 0; i < 4; i++) {
		long n = msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT);
		long want_type = i < 3 ? msgs[i].type : 9;
		if (n < 0 || m.type != want_type) {
			case_fail("message %zu: %s, type %ld (expected %ld)", i, n < 0 ? strerror(errno) : "received", m.type, want_type);
			break;
		}
		if (i < 3 && (n != (long)strlen(msgs[i].text) + 1 || strcmp(m.text, msgs[i].text)))
			case_fail("message %zu is \"%.*s\"", i, (int)n, m.text);
		for (size_t k = 0; i == 3 && k < sizeof m.text; k++)
			if (m.text[k] != (char)(k * 3)) {
				case_fail("binary message differs at byte %zu", k);
				break;
			}
	}
	shmctl(a, IPC_RMID, NULL);
	semctl(s, 0, IPC_RMID);
	msgctl(q, IPC_RMID, NULL);
	kill(child, SIGKILL);
	case_finish();
}
