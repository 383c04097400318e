/**
 * Fault injection, for tests only: proves that a failure (or the death of ucr) at any named
 * point leaves nothing harmed or behind. Read from the environment, by the coordinator here and
 * by ucr-helper (native/helper/core/fault.c) alike:
 *   UCR_FAULT=<point>[:<pid>]        the point: a phase name (events.ts: 'freeze', 'capture',
 *                                    'create', 'map', 'finish'...) or a helper point ('inject',
 *                                    'dump-pages', 'clone', 'task-map', 'task-finish',
 *                                    'restore-pages', 'detach', 'let-go' (while the tasks are
 *                                    let go: sigint and sigkill only); in the freeze of a task's threads
 *                                    (freeze.c), half-way through a pass: 'freeze-seize',
 *                                    'freeze-interrupt', 'freeze-save', then 'freeze-pass' after
 *                                    it, 'freeze-giveup' (as if new threads kept appearing);
 *                                    'state-thread' half-way through the threads' state; at restart,
 *                                    'thread-tid' does not fail but has the middle clone3 of a
 *                                    task's first wave of threads ask for a tid in use (the main
 *                                    thread's), as when another process took it; in the
 *                                    restart's lanes (pages_lanes.c) 'image-cut' and
 *                                    'image-cut-copy' do not fail but cut the image file where
 *                                    the record being read starts, after its first piece's copy
 *                                    and before its checksum reads it, or before that copy; in a checkpoint's page scans
 *                                    (pagemap.c) 'no-pagemap-scan' does not fail but reads
 *                                    pagemap as on a kernel without the PAGEMAP_SCAN ioctl); 'reserve-wait' does not fail
 *                                    but has a checkpoint's first page record wait until the
 *                                    blocks reserved for the pages (a tmpfs output) are all
 *                                    allocated, instead of stopping that; with a pid, only for that task (its pid in
 *                                    the image)
 *   UCR_FAULT_ACTION=fail|sigkill|sigint
 *                                    fail (default): the operation fails there with
 *                                    "injected fault"; sigkill: ucr's own process is killed with
 *                                    SIGKILL at that point (the helper goes on with what it does);
 *                                    sigint: SIGINT to ucr's whole process group, helper
 *                                    included, as a terminal's Ctrl-C (the operation goes on
 *                                    until the signal aborts it)
 * Unset, nothing happens (one environment lookup per phase).
 */
import { UcrError } from './errors.js';

interface Fault {
  point: string;
  pid?: number;
  action: 'fail' | 'sigkill' | 'sigint';
}

function parse(): Fault | undefined {
  const v = process.env.UCR_FAULT;
  if (!v) return undefined;
  const [point, pid] = v.split(':');
  const a = process.env.UCR_FAULT_ACTION;
  return { point: point!, pid: pid ? Number(pid) : undefined, action: a === 'sigkill' || a === 'sigint' ? a : 'fail' };
}

/** Called at the start of every phase (PhaseClock.run). */
export function faultPoint(point: string, pid?: number): void {
  const f = parse();
  if (!f || f.point !== point || (f.pid !== undefined && f.pid !== pid)) return;
  if (f.action === 'sigkill') process.kill(process.pid, 'SIGKILL');
  if (f.action === 'sigint') return void process.kill(0, 'SIGINT');
  throw new UcrError(`${point}${pid !== undefined ? ` of process ${pid}` : ''}: injected fault (UCR_FAULT)`, { code: 'EFAULT_INJECTED', phase: point, pid });
}
