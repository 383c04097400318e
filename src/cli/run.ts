/**
 * The commands' work, loaded only when a command runs (main.ts imports it with import()): the
 * library calls with their events (warnings, -v timings, the progress bar, --trace), SIGINT and
 * SIGTERM as abort, and the summary line on a terminal.
 */
import fs from 'node:fs';
import { oneLine, UcrError } from '../errors.js';
import { systemErrorText } from '../errno.js';
import { UcrEmitter, type ExternalStdioEvent, type PhaseRecord } from '../events.js';
import { checkpoint, inspect, restart, VERSION, type CheckpointOptions, type RestartOptions } from '../index.js';
import { isoTime } from '../iso-time.js';
import { createLogger } from '../log.js';
import { native, nativeLoaded } from '../native/addon.js';
import { writeNewFile } from '../new-file.js';
import { parseTrace, toChromeTrace, traceTable } from '../trace.js';
import { attachProgress } from './progress.js';
import { fail, writeErr, writeOut } from './report.js';
import { checkpointSummary, restartSummary } from './summary.js';
import { nowMs } from '../monotonic.js';
import { outputKind } from '../orchestrator/output.js';

export interface GlobalOpts {
  logLevel?: string;
  logFile?: string;
  verbose?: boolean;
}

/** stderr is a terminal (through the addon: process.stderr.isTTY makes the stream, see
 * report.ts) */
const stderrIsTTY = (): boolean => native().isatty(2);

/** A summary line is printed on a terminal, or anywhere with -v. */
const wantSummary = (g: GlobalOpts) => g.verbose || stderrIsTTY();

/** One line about stdio that leads outside the tree: which fds, and what a restart connects
 * them to. */
function externalLine(x: ExternalStdioEvent): string {
  const what = x.path.startsWith('pipe:') ? 'a pipe to a process outside the tree' : x.path.startsWith('socket:') ? 'a socket' : 'a terminal';
  const fds = x.fds.length > 1 ? `fds ${x.fds.join(', ')}` : `fd ${x.fds[0] ?? x.slot}`;
  return `process ${x.pid} ${fds} (${x.path}) is ${what}: not saved; a restart connects ${x.fds.length > 1 ? 'them' : 'it'} to its own ${['stdin', 'stdout', 'stderr'][x.slot]}`;
}

/** The events a CLI run listens to: warnings and -v timings on stderr, the progress bar, and
 * every phase for --trace. */
function emitter(g: GlobalOpts): { events: UcrEmitter; phases: PhaseRecord[]; endProgress: () => void } {
  const events = new UcrEmitter();
  const phases: PhaseRecord[] = [];
  events.on('warning', (w) => writeErr(`ucr: warning: ${oneLine(w.message)}\n`));
  events.on('external-stdio', (x) => writeErr(`ucr: ${oneLine(externalLine(x))}\n`));
  events.on('phase-end', (p) => phases.push(p));
  if (g.verbose)
    events.on('phase-end', (p) =>
      writeErr(`ucr: ${p.phase}${p.detail ? ` ${p.detail}` : ''}${p.pid ? ` [${p.pid}]` : ''} ${(p.endMs - p.startMs).toFixed(1)} ms\n`),
    );
  // the bar is drawn on a terminal only: its stream is made then
  return { events, phases, endProgress: stderrIsTTY() ? attachProgress(events, process.stderr) : () => {} };
}

function logger(g: GlobalOpts) {
  const level = g.logLevel ?? (g.logFile ? 'debug' : 'silent');
  return createLogger({ level, file: g.logFile, human: !g.logFile && level !== 'silent' && stderrIsTTY() });
}

/** 128 + the signal that aborted (abortOnSignals), or undefined. */
function statusOf(signal: AbortSignal | undefined): number | undefined {
  const signo = signal?.aborted ? (signal.reason as { signo?: number } | undefined)?.signo : undefined;
  return signo === undefined ? undefined : 128 + signo;
}

/** SIGINT/SIGTERM abort the operation (a checkpoint leaves the tree running, a restart leaves
 * nothing); the exit status is then 128 + the signal. */
function abortOnSignals(): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  // the first signal aborts; its number goes with the reason (a later abort changes nothing)
  const on = (name: 'SIGINT' | 'SIGTERM', n: number) => () => ac.abort(Object.assign(new Error(`interrupted by ${name}`), { signo: n }));
  const int = on('SIGINT', 2);
  const term = on('SIGTERM', 15);
  process.on('SIGINT', int);
  process.on('SIGTERM', term);
  return {
    signal: ac.signal,
    done: () => {
      process.off('SIGINT', int);
      process.off('SIGTERM', term);
    },
  };
}

function writeTrace(file: string | undefined, op: 'checkpoint' | 'restart', phases: PhaseRecord[], startedAt: string): void {
  if (!file) return;
  try {
    // created new and renamed into place: never through a symlink planted in a shared directory
    writeNewFile(file, JSON.stringify(toChromeTrace(op, phases, { tool: `ucr ${VERSION}`, startedAt })) + '\n', 'trace');
  } catch (e) {
    writeErr(`ucr: warning: ${e instanceof UcrError ? oneLine(e.message) : `trace ${file}: cannot write it: ${systemErrorText(e)}`}\n`);
  }
}

/** Runs one operation with SIGINT/SIGTERM abort and --trace, exiting with the right status. */
async function run<T>(op: 'checkpoint' | 'restart', g: GlobalOpts, traceFile: string | undefined, fn: (ctx: ReturnType<typeof emitter> & { signal: AbortSignal }) => Promise<T>): Promise<T> {
  const startedAt = isoTime();
  const sig = abortOnSignals();
  let ctx: ReturnType<typeof emitter> | undefined;
  try {
    ctx = emitter(g);
    return await fn({ ...ctx, signal: sig.signal });
  } catch (e) {
    writeTrace(traceFile, op, ctx?.phases ?? [], startedAt);
    ctx?.endProgress();
    return fail(e, op, statusOf(sig.signal));
  } finally {
    sig.done();
    writeTrace(traceFile, op, ctx?.phases ?? [], startedAt);
  }
}

export type CheckpointCliOptions = Omit<CheckpointOptions, 'events' | 'logger' | 'signal' | 'output'> & { output: string; json?: boolean; trace?: string };

export async function runCheckpoint(pid: number, o: CheckpointCliOptions, g: GlobalOpts): Promise<never> {
  const t0 = nowMs();
  const { json, trace, ...opts } = o;
  const into = outputKind(o.output);
  const r = await run('checkpoint', g, trace, ({ events, signal }) => checkpoint(pid, { ...opts, events, logger: logger(g), signal, leanHeap: true }));
  if (json && into !== 'stdout') writeOut(JSON.stringify(r) + '\n');
  if (wantSummary(g)) writeErr(`${checkpointSummary(r, o.output, nowMs() - t0, g.verbose ?? false, into)}\n`);
  // done: stdout is written (writeOut returns once it is), stderr and the logs are synchronous, the
  // helper has exited
  exitNow(0);
}

/**
 * The end of a command that did its work: the process exits at once (_exit through the addon,
 * which the command loaded): Node's exit joins its platform's and libuv's threads and runs its
 * teardown (~1 ms of every command). Everything is written by then: stdout and stderr
 * written with write(2) (report.ts), the trace written
 * synchronously. process.exit as usual when something may still be listening for the exit: an
 * 'exit' listener (a pino destination), a flag given to Node (--cpu-prof...), coverage
 * (NODE_V8_COVERAGE), NODE_OPTIONS; or when the addon was never loaded.
 */
function exitNow(status: number): never {
  const addon = nativeLoaded();
  if (addon && process.listenerCount('exit') === 0 && !process.execArgv.length && !process.env.NODE_V8_COVERAGE && !process.env.NODE_OPTIONS) addon.exitNow(status);
  process.exit(status);
}

export type RestartCliOptions = Omit<RestartOptions, 'events' | 'logger' | 'signal' | 'input'> & { input: string; json?: boolean; trace?: string };

export async function runRestart(o: RestartCliOptions, g: GlobalOpts): Promise<never> {
  const t0 = nowMs();
  const { json, trace, ...opts } = o;
  let aborting: AbortSignal | undefined;
  const r = await run('restart', g, trace, ({ events, signal }) => {
    aborting = signal;
    if (wantSummary(g)) {
      // said when the tree runs (ucr's work is done): not after the restored program ends
      const restored = new Set<number>();
      events.on('phase-end', (p) => {
        if (p.phase === 'finish' && p.pid !== undefined) restored.add(p.pid);
        if (p.phase === 'resume' && p.pid === undefined && !p.failed)
          writeErr(`${restartSummary(restored.size, o.pidns ? 'pidns' : o.pids ? 'new' : 'same', nowMs() - t0)}\n`);
      });
    }
    return restart({ ...opts, events, logger: logger(g), signal });
  });
  if (json) writeOut(JSON.stringify(r) + '\n');
  if (o.detach) exitNow(0);
  if (r.stoppedWaiting) {
    // interrupted after the tree was resumed: too late to undo, ucr just stops waiting
    const why = (aborting?.reason as Error | undefined)?.message ?? 'interrupted';
    writeErr(`ucr: restart: stopped waiting for process ${r.root} (${why}): the restored tree runs on\n`);
    exitNow(statusOf(aborting) ?? 130);
  }
  exitNow(r.exitSignal ? 128 + r.exitSignal : (r.exitCode ?? 0));
}

export interface InspectCliOptions {
  json?: boolean;
  verify?: boolean;
  trace?: string;
  all?: boolean;
  task?: number;
}

export async function runInspect(file: string | undefined, o: InspectCliOptions): Promise<void> {
  try {
    if (o.trace) {
      let text: string;
      try {
        text = fs.readFileSync(o.trace, 'utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new UcrError(`trace ${o.trace}: ${code === 'ENOENT' ? 'no such file' : `cannot read it: ${systemErrorText(e)}`}`, { code, object: o.trace });
      }
      const t = parseTrace(text, o.trace);
      writeOut((o.json ? JSON.stringify(t, null, 2) : traceTable(t)) + '\n');
      if (!file) return;
    }
    if (!file) throw new UcrError('inspect: give an image file (or --trace <file>)', { code: 'EUSAGE' });
    const r = inspect({ input: file, verify: o.verify });
    const view = await import('./inspect-view.js');
    if (o.json) return void writeOut(view.inspectJson(r) + '\n');
    if (o.all || o.task !== undefined) return void writeOut(view.renderInspect(r, { task: o.task }) + '\n');
    const [{ renderSummary }, { restartRefusals }, { openImage }] = await Promise.all([import('./inspect-summary.js'), import('../orchestrator/preflight.js'), import('../image/open.js')]);
    // what a restart would refuse is checked on the file itself (mode, owner); not for a stream
    let refusals: string[] = [];
    if (file !== '-') {
      const input = openImage(file);
      try {
        refusals = restartRefusals(r.meta, input);
      } finally {
        input.close();
      }
    }
    writeOut(renderSummary(r, refusals) + '\n');
  } catch (e) {
    fail(e, 'inspect');
  }
}
