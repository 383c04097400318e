/**
 * Exit statuses of the ucr command (README "Exit codes"):
 *   0    success
 *   1    an error: one line on stderr, "ucr: <object>: <reason>" (refused, bad image, pid in use,
 *        permission, a failed --action-script...; the library's error class tells them apart)
 *   2    command-line usage error (one line and "see 'ucr <command> --help'")
 *   141  the reader of stdout went away (`ucr inspect img | head`): ucr stopped quietly
 *   130, 143  interrupted by SIGINT / SIGTERM: the operation was aborted (a checkpoint leaves
 *        the tree running as it was, a restart leaves no process; once the restarted tree
 *        runs, a restart without --detach only stops waiting for its root: it runs on)
 *   restart without --detach: the restored root's own status (128 + N if killed by signal N)
 * In a restarted copy of a program that checkpointed itself, its `ucr checkpoint` call appears
 * to have exited with RESTARTED_EXIT_STATUS (99, see src/orchestrator/self.ts).
 */
import { AbortedError, UcrError } from '../errors.js';

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export function exitCodeOf(e: unknown, interruptedStatus?: number): number {
  if (e instanceof AbortedError && interruptedStatus) return interruptedStatus;
  if (e instanceof UcrError && e.code === 'EUSAGE') return EXIT_USAGE;
  return EXIT_ERROR;
}
