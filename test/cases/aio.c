// build: gcc -O2 -g -Wall -Wextra -o aio aio.c
/*
 * aio.c - AIO contexts (io_setup) come back at their addresses and work (issue 17).
 *
 *   aio --out FILE [--refuse uring|forked]
 *
 * Sets up two contexts (io_setup 1 and 200: rings of 1 and 4 pages), writes through the
 * first once (io_submit + io_getevents: its ring's head and tail are no longer 0), and keeps
 * each context id (the ring's address). After SIGTERM: /proc/self/maps shows each ring at its
 * address with its size, the ring headers say the same number of events, and a write and a
 * read through each context (io_submit, io_getevents) complete with the right bytes;
 * io_destroy works (unreaped events: aio_unreaped.c). --refuse forked: a child forked after
 * io_setup (it keeps the mappings, not the contexts), refused. --refuse uring: an io_uring with its submission ring mapped, refused.
 */
#include "case.h"

#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/syscall.h>

struct ring { unsigned id, nr, head, tail, magic, compat, incompat, header_length; };

static long io_setup(unsigned n, aio_context_t *c) { return syscall(SYS_io_setup, n, c); }
static long io_submit(aio_context_t c, long n, struct iocb **i) { return syscall(SYS_io_submit, c, n, i); }
static long io_getevents(aio_context_t c, long min, long n, struct io_event *e) { return syscall(SYS_io_getevents, c, min, n, e, NULL); }
static long io_destroy(aio_context_t c) { return syscall(SYS_io_destroy, c); }

static int fd;

/* one request through ctx, waited for; 0 or a failure text */
static const char *one(aio_context_t ctx, int op, char *buf, size_t len, long long off, int reap)
{
	struct iocb cb = { .aio_data = 0x5eed, .aio_lio_opcode = (uint16_t)op, .aio_fildes = (uint32_t)fd,
			   .aio_buf = (uint64_t)(uintptr_t)buf, .aio_nbytes = len, .aio_offset = off };
	struct iocb *list[1] = { &cb };
	struct io_event ev;
	if (io_submit(ctx, 1, list) != 1)
		return "io_submit";
	if (!reap)
		return NULL;
	if (io_getevents(ctx, 1, 1, &ev) != 1)
		return "io_getevents";
	if (ev.data != 0x5eed || ev.res != (long long)len)
		return "the event (data or result)";
	return NULL;
}

/* the mapping at addr in /proc/self/maps: its size, 0 if none or not an aio ring */
static unsigned long ring_size(unsigned long addr)
{
	char line[512];
	unsigned long s, e, size = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s == addr && strstr(line, "/[aio]"))
			size = e - s;
	if (f)
		fclose(f);
	return size;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	const char *refuse = case_arg(argc, argv, "--refuse");
	if (refuse && !strcmp(refuse, "uring")) { /* an io_uring with its rings mapped: refused */
		struct io_uring_params prm;
		memset(&prm, 0, sizeof prm);
		int u = (int)syscall(SYS_io_uring_setup, 4, &prm);
		if (u < 0 || mmap(NULL, prm.sq_off.array + prm.sq_entries * sizeof(unsigned), PROT_READ | PROT_WRITE, MAP_SHARED, u, IORING_OFF_SQ_RING) == MAP_FAILED)
			case_setup_fail("io_uring: %s", strerror(errno));
		case_ready();
		case_wait_term();
		case_finish();
		return 0;
	}
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s.data", case_out);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		case_setup_fail("open %s: %s", path, strerror(errno));
	aio_context_t ctx[2] = { 0, 0 };
	if (io_setup(1, &ctx[0]) < 0 || io_setup(200, &ctx[1]) < 0)
		case_setup_fail("io_setup: %s", strerror(errno));
	if (refuse && !strcmp(refuse, "forked")) { /* a child keeps the rings' mappings, not the contexts */
		pid_t child = fork();
		if (child == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
		if (child < 0)
			case_setup_fail("fork: %s", strerror(errno));
		case_ready();
		case_wait_term();
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		case_finish();
		return 0;
	}
	unsigned long size[2] = { ring_size(ctx[0]), ring_size(ctx[1]) };
	unsigned nr[2] = { ((struct ring *)ctx[0])->nr, ((struct ring *)ctx[1])->nr };
	if (!size[0] || !size[1])
		case_setup_fail("no /[aio] mapping at the context ids");
	char before[] = "before the checkpoint";
	const char *e = one(ctx[0], IOCB_CMD_PWRITE, before, sizeof before, 0, 1);
	if (e)
		case_setup_fail("%s before the checkpoint: %s", e, strerror(errno));
	case_ready();
	case_wait_term();

	for (int i = 0; i < 2; i++) {
		if (ring_size(ctx[i]) != size[i])
			case_fail("context %d: the ring at %#lx is %lu bytes, was %lu", i, (unsigned long)ctx[i], ring_size(ctx[i]), size[i]);
		else if (((struct ring *)ctx[i])->nr != nr[i] || ((struct ring *)ctx[i])->magic != 0xa10a10a1)
			case_fail("context %d: the ring holds %u events, was %u", i, ((struct ring *)ctx[i])->nr, nr[i]);
	}
	if (case_failed) {
		case_finish();
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		char msg[32], back[32] = "";
		snprintf(msg, sizeof msg, "after the restart %d", i);
		if ((e = one(ctx[i], IOCB_CMD_PWRITE, msg, sizeof msg, 64 * (i + 1), 1)) || (e = one(ctx[i], IOCB_CMD_PREAD, back, sizeof back, 64 * (i + 1), 1)))
			case_fail("context %d: %s after the restart: %s", i, e, strerror(errno));
		else if (strcmp(back, msg))
			case_fail("context %d: read back \"%s\"", i, back);
	}
	char first[sizeof before] = "";
	if (pread(fd, first, sizeof first, 0) != (ssize_t)sizeof first || strcmp(first, before))
		case_fail("the write made before the checkpoint is gone");
	for (int i = 0; i < 2; i++)
		if (io_destroy(ctx[i]) < 0)
			case_fail("io_destroy %d: %s", i, strerror(errno));
	case_finish();
	return 0;
}
