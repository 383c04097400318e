/** The ucr command line: parses options into the library's option objects and calls it. */
import fs from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { oneLine, UcrError } from '../errors.js';
import { UcrEmitter, type ExternalStdioEvent, type PhaseRecord } from '../events.js';
import { checkpoint, inspect, restart, VERSION, type SkipMemory } from '../index.js';
import { createLogger } from '../log.js';
import { signalNumber } from '../orchestrator/notify.js';
import { writeNewFile } from '../new-file.js';
import { parseTrace, toChromeTrace, traceTable } from '../trace.js';
import { exitCodeOf } from './exit-codes.js';
import { inspectJson, renderInspect } from './inspect-view.js';
import { attachProgress } from './progress.js';

function intArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

function skipMemoryArg(v: string, prev: SkipMemory[]): SkipMemory[] {
  const m = /^(?:(\d+):)?(0x[0-9a-f]+|\d+)-(0x[0-9a-f]+|\d+)$/i.exec(v);
  const [start, end] = m ? [Number(m[2]), Number(m[3])] : [NaN, NaN];
  if (!m || !(start < end)) throw new InvalidArgumentError('expected [pid:]start-end, e.g. 0x7f0000000000-0x7f0000100000');
  return [...prev, { ...(m[1] ? { pid: Number(m[1]) } : {}), start, end }];
}

function parsePids(v: string): Map<number, number> | 'auto' {
  if (v === 'auto') return 'auto';
  const m = new Map<number, number>();
  for (const pair of v.split(',')) {
    const mm = /^(\d+):(\d+)$/.exec(pair.trim());
    if (!mm) throw new InvalidArgumentError(`expected old:new,... or auto, got "${pair}"`);
    m.set(Number(mm[1]), Number(mm[2]));
  }
  if (new Set(m.values()).size !== m.size) throw new InvalidArgumentError('two tasks cannot get the same new pid');
  return m;
}

function inheritFd(v: string, prev: [number, number][]): [number, number][] {
  const m = /^([012])=(\d+)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`expected slot=fd with slot 0, 1 or 2, got "${v}"`);
  return [...prev, [Number(m[1]), Number(m[2])]];
}

function stdioWith(pairs: [number, number][]): [number, number, number] {
  const s: [number, number, number] = [0, 1, 2];
  for (const [slot, fd] of pairs) s[slot] = fd;
  return s;
}

function fail(e: unknown): never {
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`ucr: ${oneLine(msg)}\n`);
  if (process.env.UCR_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(exitCodeOf(e));
}

interface GlobalOpts {
  logLevel?: string;
  logFile?: string;
  verbose?: boolean;
}

/** One line about stdio that leads outside the tree: which fds, and what a restart connects
 * them to. */
function externalLine(x: ExternalStdioEvent): string {
  const what = x.path.startsWith('pipe:') ? 'a pipe to a process outside the tree' : x.path.startsWith('socket:') ? 'a socket' : 'a terminal';
  const fds = x.fds.length > 1 ? `fds ${x.fds.join(', ')}` : `fd ${x.fds[0] ?? x.slot}`;
  return `process ${x.pid} ${fds} (${x.path}) is ${what}: not saved; a restart connects ${x.fds.length > 1 ? 'them' : 'it'} to its own ${['stdin', 'stdout', 'stderr'][x.slot]}`;
}

/** The events a CLI run listens to: warnings and -v timings on stderr, the progress bar, and
 * every phase for --trace. */
let endProgress = () => {};

function emitter(g: GlobalOpts): { events: UcrEmitter; phases: PhaseRecord[] } {
  const events = new UcrEmitter();
  const phases: PhaseRecord[] = [];
  events.on('warning', (w) => process.stderr.write(`ucr: warning: ${oneLine(w.message)}\n`));
  events.on('external-stdio', (x) => process.stderr.write(`ucr: ${externalLine(x)}\n`));
  events.on('phase-end', (p) => phases.push(p));
  if (g.verbose)
    events.on('phase-end', (p) =>
      process.stderr.write(`ucr: ${p.phase}${p.detail ? ` ${p.detail}` : ''}${p.pid ? ` [${p.pid}]` : ''} ${(p.endMs - p.startMs).toFixed(1)} ms\n`),
    );
  endProgress = attachProgress(events, process.stderr);
  return { events, phases };
}

function logger(g: GlobalOpts) {
  const level = g.logLevel ?? (g.logFile ? 'debug' : 'silent');
  return createLogger({ level, file: g.logFile, human: !g.logFile && process.stderr.isTTY });
}

/** SIGINT/SIGTERM abort the operation (a checkpoint leaves the tree running, a restart leaves
 * nothing); the exit status is then 128 + the signal. */
function abortOnSignals(): { signal: AbortSignal; status: () => number | undefined; done: () => void } {
  const ac = new AbortController();
  let got: number | undefined;
  const on = (name: 'SIGINT' | 'SIGTERM', n: number) => () => {
    got ??= n;
    ac.abort(new Error(`interrupted by ${name}`));
  };
  const int = on('SIGINT', 2);
  const term = on('SIGTERM', 15);
  process.on('SIGINT', int);
  process.on('SIGTERM', term);
  return {
    signal: ac.signal,
    status: () => (got === undefined ? undefined : 128 + got),
    done: () => {
      process.off('SIGINT', int);
      process.off('SIGTERM', term);
    },
  };
}

function writeTrace(file: string | undefined, op: 'checkpoint' | 'restart', phases: PhaseRecord[], startedAt: string): void {
  if (!file) return;
  try {
    writeNewFile(file, JSON.stringify(toChromeTrace(op, phases, { tool: `ucr ${VERSION}`, startedAt })) + '\n', 'trace');
  } catch (e) {
    process.stderr.write(`ucr: warning: ${(e as Error).message}\n`);
  }
}

function signalArg(v: string): string {
  if (signalNumber(v) === undefined) throw new InvalidArgumentError(`no such signal "${v}"`);
  return v;
}

/** Runs one operation with SIGINT/SIGTERM abort and --trace, exiting with the right status. */
async function run<T>(op: 'checkpoint' | 'restart', traceFile: string | undefined, phases: PhaseRecord[], fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const startedAt = new Date().toISOString();
  const sig = abortOnSignals();
  try {
    return await fn(sig.signal);
  } catch (e) {
    writeTrace(traceFile, op, phases, startedAt);
    endProgress();
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`ucr: ${oneLine(msg)}\n`);
    if (process.env.UCR_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(exitCodeOf(e, sig.status()));
  } finally {
    sig.done();
    writeTrace(traceFile, op, phases, startedAt);
  }
}

const program = new Command();
program
  .name('ucr')
  .description('Userspace checkpoint/restart of Linux processes')
  .version(VERSION, '-V, --version')
  .option('--log-level <level>', 'structured log level: trace, debug, info, warn, error, fatal, silent (default: debug with --log-file, else silent)')
  .option('--log-file <file>', 'write structured logs as JSON lines to this file (default: stderr; human lines on a terminal)')
  .option('-v, --verbose', 'print per-phase timings on stderr')
  .exitOverride()
  .showHelpAfterError();

program
  .command('checkpoint')
  .description('save a running process to an image; it keeps running unless --kill')
  .argument('[pid]', 'the process to checkpoint, with all its descendants', intArg('pid', 1))
  .option('--session <sid>', 'checkpoint every process of this session instead (orphans included)', intArg('--session', 1))
  .option('--pgid <pgid>', 'checkpoint every process of this process group instead', intArg('--pgid', 1))
  .requiredOption('-o, --output <file>', "image file (created 0600, appears only when complete), or '-' for stdout")
  .option('--kill', 'kill the tree once the image is complete (into a pipe or socket: once its reader has read it to the last byte)')
  .option('--kill-after-ack', 'kill the tree only once the restart reading the image acknowledges it (restart --ack-fd); on the output itself if it is a socket, else on --ack-fd')
  .option('--ack-fd <fd>', 'with --kill-after-ack: read the acknowledgement from this fd', intArg('--ack-fd'))
  .option('--ack-timeout <ms>', 'with --kill-after-ack: give up (the tree runs on) without an acknowledgement within this time', intArg('--ack-timeout', 1), 60000)
  .option('--vfork-wait <ms>', 'wait this long for a task inside vfork() until its child execs or exits', intArg('--vfork-wait'), 5000)
  .option('--compress', 'write page data LZ4-compressed where it shrinks (smaller image, more CPU; reports the ratio)')
  .option('--allow-leaks', 'checkpoint even if a pipe or file of the tree is also held outside it (warns; recorded)')
  .addOption(
    new Option('--external-unix <policy>', 'a unix socket whose peer is outside the tree: refuse (default), or close: restore it with its peer gone (reads get the queued bytes, then EOF)')
      .choices(['refuse', 'close'])
      .default('refuse'),
  )
  .addOption(
    new Option('--tcp <policy>', 'a TCP connection whose peer is outside the tree: close (default): restore it reset (queued bytes, then ECONNRESET), or established: restore it with TCP_REPAIR (the peer must stay quiet until the restart)')
      .choices(['close', 'established'])
      .default('close'),
  )
  .addOption(new Option('--skip <kinds>', "leave these out; 'sockets': the restarted program finds its sockets closed").choices(['sockets']))
  .option('--action-script <file>', 'run this at pre-dump and post-dump (env UCR_ACTION, UCR_PID, UCR_PIDS, UCR_IMAGE); non-zero exit aborts, the tree runs on')
  .option('--notify-signal <sig>', 'queue this signal (si_value 1) to every task with a handler for it before freezing it', signalArg)
  .option('--trace <file>', 'write the per-task, per-phase timeline as Chrome trace-event JSON (Perfetto, chrome://tracing)')
  .option('--json', 'print the result (pids, bytes, phase timings) as JSON on stdout (not with -o -)')
  .addHelpText(
    'after',
    '\nExamples:\n  ucr checkpoint 1234 -o app.img\n  ucr checkpoint --session 1234 -o session.img\n  ucr checkpoint 1234 --kill -o - | ucr restart -i -\n  mkfifo ack; ucr checkpoint 1234 --kill-after-ack --ack-fd 3 -o - 3<ack | ucr restart -i - --ack-fd 4 4>ack\n  ucr checkpoint 1234 -o app.img --trace ckpt.json && ucr inspect --trace ckpt.json\n\nA program may checkpoint itself: system("ucr checkpoint <its pid> -o img"). The call returns 0 in\nthe original and exit status 99 in a restarted copy.\n',
  )
  .action(
    async (
      pid: number | undefined,
      o: { output: string; kill?: boolean; killAfterAck?: boolean; ackFd?: number; ackTimeout: number; compress?: boolean; allowLeaks?: boolean; json?: boolean; session?: number; pgid?: number; vforkWait: number; externalUnix?: 'refuse' | 'close'; tcp?: 'close' | 'established'; skip?: 'sockets'; actionScript?: string; notifySignal?: string; trace?: string },
    ) => {
      const g = program.opts<GlobalOpts>();
      if ((pid === undefined) === (o.session === undefined && o.pgid === undefined) || (o.session !== undefined && o.pgid !== undefined))
        fail(new UcrError('checkpoint: give either a pid, --session <sid> or --pgid <pgid>', { code: 'EUSAGE' }));
      if (o.ackFd !== undefined && !o.killAfterAck) fail(new UcrError('checkpoint: --ack-fd goes with --kill-after-ack', { code: 'EUSAGE' }));
      const { events, phases } = emitter(g);
      const r = await run('checkpoint', o.trace, phases, (signal) =>
        checkpoint(pid ?? 0, {
          session: o.session,
          pgid: o.pgid,
          vforkWaitMs: o.vforkWait,
          output: o.output,
          kill: o.kill,
          killAfterAck: o.killAfterAck ? { fd: o.ackFd, timeoutMs: o.ackTimeout } : undefined,
          compress: o.compress,
          allowLeaks: o.allowLeaks,
          externalUnix: o.externalUnix,
          tcp: o.tcp,
          skip: o.skip ? [o.skip] : undefined,
          actionScript: o.actionScript,
          notifySignal: o.notifySignal,
          events,
          logger: logger(g),
          signal,
        }),
      );
      if (o.json && o.output !== '-') process.stdout.write(JSON.stringify(r) + '\n');
      const c = r.compression;
      const ratio = c
        ? `, pages ${r.pageBytes} -> ${c.storedBytes} bytes (lz4 ratio ${c.ratio.toFixed(2)}, ${c.ms ? ((r.pageBytes / 1048576) * (1000 / c.ms)).toFixed(0) : '-'} MiB/s)`
        : '';
      if (g.verbose) process.stderr.write(`ucr: checkpointed ${r.tasks} task(s) under ${r.pid}: ${r.bytes} bytes${ratio}${r.killed ? ', killed' : ''}\n`);
    },
  );

program
  .command('restart')
  .description('restart the process(es) of an image at their pids; waits for the root and exits with its status')
  .requiredOption('-i, --input <file>', "image file, or '-' for stdin")
  .option('--detach', 'return once every task is restored and running')
  .option('--pid-wait <ms>', 'wait this long for pids still held by zombies', intArg('--pid-wait'), 5000)
  .option('--force', 'restart even if the kernel build or CPU features differ from the image')
  .option('--trust-image', "vouch for the image: restore what it records even if other users could write it, or (as root) it is not root's (otherwise: at most its owner's credentials)")
  .option('--pids <map>', "restart at other pids: old:new,... (the rest keep theirs) or 'auto' (any free pids)", parsePids)
  .option('--pidns', "restart in a new pid namespace, under ucr's init (pid 1), at the image's pids inside it")
  .option('--ipcns', 'restart in a new IPC namespace: System V objects come back at their ids whatever this namespace holds')
  .addOption(
    new Option('--skip <what>', "do not restore: 'ipc' = no System V object is recreated (attached segments come back private, already removed)").argParser(
      (v: string, prev: 'ipc'[] = []): 'ipc'[] => {
        if (v !== 'ipc') throw new InvalidArgumentError(`only 'ipc' may be skipped`);
        return [...prev, v];
      },
    ),
  )
  .option('--json', 'print the result (old:new pids, phase timings, exit status) as JSON on stdout')
  .addOption(
    new Option('--timers <policy>', 'relative: timers resume with the time they had left; absolute: wall-clock deadlines are kept (missed ones fire at once)')
      .choices(['relative', 'absolute'])
      .default('relative'),
  )
  .addOption(
    new Option('--file-validation <how>', "size: refuse a file open for writing whose size changed since the checkpoint (or an offset beyond its end); off: reopen whatever is there")
      .choices(['size', 'off'])
      .default('size'),
  )
  .option('--skip-memory <[pid:]start-end>', 'restore this address range zero-filled (all tasks, or only pid); addresses in hex (0x...) or decimal; repeatable', skipMemoryArg, [] as SkipMemory[])
  .option('--parallel <n>', 'restore this many tasks at once, each by its own tracer (default: the CPU count)', intArg('--parallel', 1))
  .option('--inherit-fd <slot=fd>', "connect the image's external stdio slot (0-2) to this fd of ucr instead of ucr's own stdio (repeatable)", inheritFd, [] as [number, number][])
  .option('--action-script <file>', 'run this at pre-restore, post-restore (non-zero exit: nothing is left) and post-resume')
  .option('--notify-signal <sig>', 'queue this signal (si_value 2) to every restored task with a handler for it once all run', signalArg)
  .option('--trace <file>', 'write the per-task, per-phase timeline as Chrome trace-event JSON (Perfetto, chrome://tracing)')
  .option('--ack-fd <fd>', 'once the image is here whole and verified, acknowledge it on this fd (for checkpoint --kill-after-ack)', intArg('--ack-fd'))
  .addHelpText('after', '\nExamples:\n  ucr restart -i app.img\n  ucr restart -i app.img --detach --trace restart.json\n')
  .action(
    async (o: {
      input: string;
      detach?: boolean;
      pidWait: number;
      force?: boolean;
      trustImage?: boolean;
      pids?: Map<number, number> | 'auto';
      pidns?: boolean;
      ipcns?: boolean;
      skip?: 'ipc'[];
      json?: boolean;
      inheritFd: [number, number][];
      timers: 'relative' | 'absolute';
      fileValidation: 'size' | 'off';
      skipMemory: SkipMemory[];
      parallel?: number;
      actionScript?: string;
      notifySignal?: string;
      trace?: string;
      ackFd?: number;
    }) => {
      const g = program.opts<GlobalOpts>();
      const { events, phases } = emitter(g);
      const r = await run('restart', o.trace, phases, (signal) =>
        restart({
          input: o.input,
          detach: o.detach,
          pidWaitMs: o.pidWait,
          force: o.force,
          trustImage: o.trustImage,
          pids: o.pids,
          pidns: o.pidns,
          ipcns: o.ipcns,
          skip: o.skip,
          timers: o.timers,
          fileValidation: o.fileValidation,
          skipMemory: o.skipMemory.length ? o.skipMemory : undefined,
          parallel: o.parallel,
          stdio: o.inheritFd.length ? stdioWith(o.inheritFd) : undefined,
          actionScript: o.actionScript,
          notifySignal: o.notifySignal,
          ackFd: o.ackFd,
          events,
          logger: logger(g),
          signal,
        }),
      );
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      if (o.detach) {
        if (g.verbose) process.stderr.write(`ucr: restarted ${r.tasks} task(s), root ${r.root}\n`);
        process.exit(0);
      }
      process.exit(r.exitSignal ? 128 + r.exitSignal : (r.exitCode ?? 0));
    },
  );

program
  .command('inspect')
  .description('describe an image (and check that it is complete), or print a --trace file as a table')
  .argument('[file]', "image file, or '-' for stdin")
  .option('--json', 'machine-readable JSON')
  .option('--verify', 'also verify every page checksum')
  .option('--trace <file>', 'print this trace file (from checkpoint/restart --trace) as a table instead')
  .addHelpText('after', '\nExamples:\n  ucr inspect app.img\n  ucr inspect app.img --json\n  ucr inspect --trace restart.json\n')
  .action((file: string | undefined, o: { json?: boolean; verify?: boolean; trace?: string }) => {
    try {
      if (o.trace) {
        let text: string;
        try {
          text = fs.readFileSync(o.trace, 'utf8');
        } catch (e) {
          throw new UcrError(`trace ${o.trace}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
        }
        const t = parseTrace(text, o.trace);
        process.stdout.write((o.json ? JSON.stringify(t, null, 2) : traceTable(t)) + '\n');
        if (!file) return;
      }
      if (!file) throw new UcrError('inspect: give an image file (or --trace <file>)', { code: 'EUSAGE' });
      const r = inspect({ input: file, verify: o.verify });
      process.stdout.write((o.json ? inspectJson(r) : renderInspect(r)) + '\n');
    } catch (e) {
      fail(e);
    }
  });

program
  .command('version')
  .description('print the version and image format')
  .action(async () => {
    const { FORMAT_MAJOR, FORMAT_MINOR } = await import('../index.js');
    process.stdout.write(`ucr ${VERSION} (image format ${FORMAT_MAJOR}.${FORMAT_MINOR})\n`);
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // commander has printed its message (or the help/version) already
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  fail(e);
}
