// Compiled (not run) by test/api.test.ts with tsc: the package's published types, imported by
// the package name as a user would. A type error here fails the test.
import {
  checkpoint,
  restart,
  inspect,
  UcrEmitter,
  UcrError,
  ImageError,
  PidInUseError,
  PermissionError,
  AbortedError,
  CHECKPOINT_PHASES,
  RESTARTED_EXIT_STATUS,
  type CheckpointOptions,
  type CheckpointResult,
  type RestartOptions,
  type RestartResult,
  type InspectResult,
  type PhaseRecord,
  type Phase,
  type ProgressEvent,
} from 'ucr';

export async function example(): Promise<void> {
  const events = new UcrEmitter();
  events.on('phase-start', (e) => {
    const p: Phase = e.phase;
    void p;
  });
  events.on('phase-end', (p: PhaseRecord) => void (p.endMs - p.startMs));
  events.on('progress', (p: ProgressEvent) => void (p.bytesDone / p.bytesTotal));
  events.on('warning', (w) => void w.message.length);
  // @ts-expect-error: not an event of the map
  events.on('no-such-event', () => {});
  const opts: CheckpointOptions = { output: '/tmp/x.ucr', kill: false, events, signal: AbortSignal.timeout(1000), actionScript: async (ctx) => void ctx.action };
  // @ts-expect-error: output is required
  const bad: CheckpointOptions = { kill: true };
  void bad;
  const c: CheckpointResult = await checkpoint(1, opts);
  const n: number = c.pageBytes + c.tasks + c.durations['freeze']!;
  void n;
  const ro: RestartOptions = { input: '/tmp/x.ucr', detach: true, pids: new Map([[1, 2]]), timers: 'absolute', notifySignal: 'SIGUSR2' };
  const r: RestartResult = await restart(ro);
  const newPid: number | undefined = r.pids[1];
  void newPid;
  const i: InspectResult = inspect({ input: '/tmp/x.ucr' });
  void i.meta.tree.tasks[0]?.comm;
  try {
    await restart({ input: '-' });
  } catch (e) {
    if (e instanceof PidInUseError || e instanceof ImageError || e instanceof PermissionError || e instanceof AbortedError) void e.pid;
    if (e instanceof UcrError) {
      const s: string = e.code;
      const sys: string | undefined = e.syscall;
      const errno: number | undefined = e.errno;
      void [s, sys, errno, e.phase];
    }
  }
  void CHECKPOINT_PHASES.includes('freeze');
  void (RESTARTED_EXIT_STATUS === 99);
}
