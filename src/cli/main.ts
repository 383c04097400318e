/** The ucr command line: parses options into the library's option objects and calls it. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { UcrError } from '../errors.js';
import { UcrEmitter } from '../events.js';
import { checkpoint, inspect, restart, VERSION } from '../index.js';
import { createLogger } from '../log.js';
import { inspectJson, renderInspect } from './inspect-view.js';

function intArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
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
  process.stderr.write(`ucr: ${msg.split('\n')[0]}\n`);
  if (process.env.UCR_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(e instanceof UcrError || e instanceof Error ? 1 : 1);
}

function emitter(verbose: boolean): UcrEmitter {
  const ev = new UcrEmitter();
  ev.on('warning', (w) => process.stderr.write(`ucr: warning: ${w.message}\n`));
  if (verbose) ev.on('phase-end', (p) => process.stderr.write(`ucr: ${p.phase}${p.pid ? ` [${p.pid}]` : ''} ${(p.endMs - p.startMs).toFixed(1)} ms\n`));
  return ev;
}

const program = new Command();
program
  .name('ucr')
  .description('Userspace checkpoint/restart of Linux processes')
  .version(VERSION, '-V, --version')
  .option('--log-level <level>', 'pino log level for structured logs (trace..fatal, silent)', 'silent')
  .option('--log-file <file>', 'write structured logs (JSON lines) to this file instead of stderr')
  .option('-v, --verbose', 'print per-phase timings on stderr')
  .showHelpAfterError();

program
  .command('checkpoint')
  .description('save a running process to an image; it keeps running unless --kill')
  .argument('[pid]', 'the process to checkpoint, with all its descendants', intArg('pid', 1))
  .option('--session <sid>', 'checkpoint every process of this session instead (orphans included)', intArg('--session', 1))
  .option('--pgid <pgid>', 'checkpoint every process of this process group instead', intArg('--pgid', 1))
  .requiredOption('-o, --output <file>', "image file (created 0600, appears only when complete), or '-' for stdout")
  .option('--kill', 'kill the tree once the image is complete')
  .option('--vfork-wait <ms>', 'wait this long for a task inside vfork() until its child execs or exits', intArg('--vfork-wait'), 5000)
  .option('--allow-leaks', 'checkpoint even if a pipe or file of the tree is also held outside it (warns; recorded)')
  .addOption(
    new Option('--external-unix <policy>', 'a unix socket whose peer is outside the tree: refuse (default), or close: restore it with its peer gone (reads get the queued bytes, then EOF)')
      .choices(['refuse', 'close'])
      .default('refuse'),
  )
  .addOption(new Option('--skip <kinds>', "leave these out; 'sockets': the restarted program finds its sockets closed").choices(['sockets']))
  .option('--json', 'print the result (pids, bytes, phase timings) as JSON on stdout (not with -o -)')
  .addHelpText('after', '\nExamples:\n  ucr checkpoint 1234 -o app.img\n  ucr checkpoint --session 1234 -o session.img\n  ucr checkpoint 1234 --kill -o - | ucr restart -i -\n')
  .action(async (pid: number | undefined, o: { output: string; kill?: boolean; allowLeaks?: boolean; json?: boolean; session?: number; pgid?: number; vforkWait: number; externalUnix: 'refuse' | 'close'; skip?: 'sockets' }) => {
    const g = program.opts();
    try {
      if ((pid === undefined) === (o.session === undefined && o.pgid === undefined) || (o.session !== undefined && o.pgid !== undefined))
        throw new UcrError('checkpoint: give either a pid, --session <sid> or --pgid <pgid>', { code: 'EINVAL' });
      const r = await checkpoint(pid ?? 0, {
        session: o.session,
        pgid: o.pgid,
        vforkWaitMs: o.vforkWait,
        output: o.output,
        kill: o.kill,
        allowLeaks: o.allowLeaks,
        externalUnix: o.externalUnix,
        skip: o.skip ? [o.skip] : undefined,
        events: emitter(g.verbose),
        logger: createLogger({ level: g.logLevel, file: g.logFile }),
      });
      if (o.json && o.output !== '-') process.stdout.write(JSON.stringify(r) + '\n');
      if (g.verbose) process.stderr.write(`ucr: checkpointed ${r.tasks} task(s) under ${r.pid}: ${r.bytes} bytes${r.killed ? ', killed' : ''}\n`);
    } catch (e) {
      fail(e);
    }
  });

program
  .command('restart')
  .description('restart the process(es) of an image at their pids; waits for the root and exits with its status')
  .requiredOption('-i, --input <file>', "image file, or '-' for stdin")
  .option('--detach', 'return once every task is restored and running')
  .option('--pid-wait <ms>', 'wait this long for pids still held by zombies', intArg('--pid-wait'), 5000)
  .option('--force', 'restart even if the kernel build or CPU features differ from the image')
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
    new Option('--timers <policy>', "relative: timers resume with the time they had left; absolute: wall-clock deadlines are kept (missed ones fire at once)")
      .choices(['relative', 'absolute'])
      .default('relative'),
  )
  .option('--parallel <n>', 'restore this many tasks at once, each by its own tracer (default: the CPU count)', intArg('--parallel', 1))
  .option('--inherit-fd <slot=fd>', "connect the image's external stdio slot (0-2) to this fd of ucr instead of ucr's own stdio (repeatable)", inheritFd, [] as [number, number][])
  .addHelpText('after', '\nExamples:\n  ucr restart -i app.img\n  ucr restart -i app.img --detach\n')
  .action(async (o: { input: string; detach?: boolean; pidWait: number; force?: boolean; pids?: Map<number, number> | 'auto'; pidns?: boolean; ipcns?: boolean; skip?: 'ipc'[]; json?: boolean; inheritFd: [number, number][]; timers: 'relative' | 'absolute'; parallel?: number }) => {
    const g = program.opts();
    try {
      const r = await restart({
        input: o.input,
        detach: o.detach,
        pidWaitMs: o.pidWait,
        force: o.force,
        pids: o.pids,
        pidns: o.pidns,
        ipcns: o.ipcns,
        skip: o.skip,
        timers: o.timers,
        parallel: o.parallel,
        stdio: o.inheritFd.length ? stdioWith(o.inheritFd) : undefined,
        events: emitter(g.verbose),
        logger: createLogger({ level: g.logLevel, file: g.logFile }),
      });
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      if (o.detach) {
        if (g.verbose) process.stderr.write(`ucr: restarted ${r.tasks} task(s), root ${r.root}\n`);
        process.exit(0);
      }
      process.exit(r.exitSignal ? 128 + r.exitSignal : (r.exitCode ?? 0));
    } catch (e) {
      fail(e);
    }
  });

program
  .command('inspect')
  .description('describe an image (and check that it is complete)')
  .argument('<file>', "image file, or '-' for stdin")
  .option('--json', 'machine-readable JSON')
  .option('--verify', 'also verify every page checksum')
  .action((file: string, o: { json?: boolean; verify?: boolean }) => {
    try {
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

await program.parseAsync(process.argv);
