/* Page-record pipeline: the helper moves pages between tasks and slots while a forked io
 * process moves slots to or from the image fd, so both run at once (on two CPUs).
 *
 * Slots live in one MAP_SHARED area made before the fork; each holds whole records: frame
 * (16 bytes), page header (16 bytes), up to MAX_CHUNK_PAGES pages (the reader packs several
 * small records into one slot). Slot numbers travel over pipes (messages far below PIPE_BUF,
 * so atomic); a dead peer shows as EOF. The helper stays single-threaded: the io process is a
 * plain fork that only reads or writes the image fd.
 *
 *   writer (checkpoint): helper fills a slot (process_vm_readv, crc) and submits it; the
 *                        writer write()s slots in submission order and hands them back.
 *                        A checkpoint with little to write starts without the io process: the
 *                        helper writes each slot itself as it submits it (direct), until
 *                        DIRECT_BYTES went that way; then the io process is forked (see
 *                        pl_writer_start).
 *                        When the writer is about to run out of work (one slot or none
 *                        queued), the helper gives it the next chunk to fill itself (an
 *                        order: task, address, pages; one at a time), so reading and
 *                        checksumming (and compressing) run on both CPUs when writing is not
 *                        the limit; when it is, the writer always has slots queued and gets
 *                        no orders.
 *                        (pipeline_writer.c)
 *   reader (restart):    the reader read()s records in stream order into free slots, checks
 *                        their length and kind and computes their crc; the helper consumes
 *                        them (process_vm_writev) and hands them back. It stops after the
 *                        trailer or at the first bad or short record (pipeline_reader.c).
 * Here: what both share (pipeline_int.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline_int.h"

static unsigned char *area;
struct pl_io pl_io = { -1, -1, -1 };

unsigned char *pl_slot(int i)
{
	return area + (size_t)i * PL_SLOT_SIZE;
}

int pl_msg_read(int fd, struct pl_msg *m)
{
	for (;;) {
		ssize_t n = read(fd, m, sizeof *m);
		if (n == (ssize_t)sizeof *m)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0)
			errno = EPIPE; /* the peer is gone */
		return -1;
	}
}

int pl_msg_write(int fd, const struct pl_msg *m)
{
	for (;;) {
		ssize_t n = write(fd, m, sizeof *m);
		if (n == (ssize_t)sizeof *m)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0)
			errno = EPIPE;
		return -1;
	}
}

int pl_ring(void)
{
	if (!area) {
		area = mmap(NULL, (size_t)PL_SLOTS * PL_SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (area == MAP_FAILED) {
			area = NULL;
			return -1;
		}
	}
	return 0;
}

int pl_io_start(int fd, void (*body)(int fd, int rd, int wr))
{
	if (pl_ring() < 0)
		return -1;
	int down[2], up[2];
	if (pipe2(down, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(up, O_CLOEXEC) < 0) {
		close(down[0]);
		close(down[1]);
		return -1;
	}
	pid_t p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(down[1]);
		close(up[0]);
		body(fd, down[0], up[1]);
		_exit(0);
	}
	close(down[0]);
	close(up[1]);
	pl_io = (struct pl_io){ p, down[1], up[0] };
	return 0;
}

void pl_stop(void)
{
	pl_writer_stopped();
	if (pl_io.pid < 0)
		return;
	close(pl_io.to);
	close(pl_io.from);
	kill(pl_io.pid, SIGKILL);
	while (waitpid(pl_io.pid, NULL, 0) < 0 && errno == EINTR)
		;
	pl_io = (struct pl_io){ -1, -1, -1 };
}
