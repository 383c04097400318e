/* ucr-helper: the single-threaded native process that the TypeScript coordinator drives.
 * It is the tracer (ptrace belongs to one thread, so never Node) and, on restart, the
 * clone-with-pid parent. Usage:
 *   ucr-helper dump                  checkpoint tasks frozen on command (image stream on fd 3)
 *   ucr-helper restore [--detach]    restart from a plan on fd 0 (image stream on fd 3)
 *   ucr-helper restore --verify      and check the page records on fd 3: `loaded` (inspect --verify)
 *   ucr-helper proto-echo            decode protocol lines and write them back (test/protocol.test.ts)
 * See proto.h for the control protocol. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fault.h"
#include "helper.h"
#include "kind.h"
#include "proto.h"

extern const struct kind_ops *const helper_kinds[]; /* kinds.c */

/* Restart: the coordinator is gone (SIGTERM: its death), or the restart was interrupted (a
 * terminal's Ctrl-C, Ctrl-\ or hang-up reaches the helper too: it shares the coordinator's
 * process group). What the kinds made is undone; exiting ends the tracer workers (their
 * PR_SET_PDEATHSIG), so every task being restored dies (PTRACE_O_EXITKILL, or its own
 * PR_SET_PDEATHSIG). These signals are blocked while the tasks are being let go: then the
 * whole tree runs, or none (restore.c). */
static void coordinator_died(int sig)
{
	helper_restore_abandon();
	/* as a shell says it: the coordinator, hearing of this end before its own handler of the
	 * same Ctrl-C has run, reports the restart interrupted rather than failed (restart.ts) */
	_exit(128 + sig);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	fault_init();
	/* Restart: if the coordinator dies, so does the helper, and the tasks being restored
	 * follow (PTRACE_O_EXITKILL, PR_SET_PDEATHSIG). Checkpoint: the helper must outlive the
	 * coordinator long enough to put every task back as it was (registers, signal mask, no
	 * gadget left) before detaching; it sees EOF on fd 0 when its current command is done.
	 * (A SIGKILL in the middle of an injected call would leave the task broken.) */
	if (argc >= 2 && strcmp(argv[1], "dump") != 0) {
		interrupts_handled(coordinator_died);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
	} else {
		/* Checkpoint: the helper shares the coordinator's process group, so a terminal's
		 * Ctrl-C, Ctrl-\ or hang-up (or a SIGTERM to the whole group, as a service manager
		 * sends) reaches it too; dying then, in the middle of a call injected into a task,
		 * would leave that task with the gadget's registers (it crashed on its next
		 * instruction). The coordinator gets the same signal and aborts, which closes the
		 * command channel: the helper puts every task back and exits. Ignored dispositions
		 * carry over to its forks (the io process; the connection keeper resets its own). */
		interrupts_ignored();
	}
	if (getppid() == 1) {
		/* the coordinator died before this line (a checkpoint killed right after starting
		 * the helper): nothing was done, but a checkpoint's partial image file goes */
		if (argc == 4 && !strcmp(argv[1], "dump") && !strcmp(argv[2], "--partial"))
			unlink(argv[3]);
		return 1;
	}
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (argc >= 2 && !strcmp(argv[1], "proto-echo")) /* the protocol's contract test */
		return proto_echo();
	if (argc >= 2 && !strcmp(argv[1], "dump"))
		return helper_dump(argc == 4 && !strcmp(argv[2], "--partial") ? argv[3] : NULL, helper_kinds);
	if (argc >= 2 && !strcmp(argv[1], "restore"))
		return helper_restore(argc == 3 && !strcmp(argv[2], "--detach"),
				      argc == 3 && !strcmp(argv[2], "--verify") ? 2 : 0,
				      helper_kinds);
	fprintf(stderr, "usage: ucr-helper dump | restore [--detach | --verify]\n");
	return 2;
}
