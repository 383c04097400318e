/** The ucr command line: parses options into the library's option objects and calls it. The
 * commands' work (the library, pino, the inspect views) is loaded only when a command runs. */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { SkipMemory } from '../index.js';
import { signalNumber } from '../signals.js';
import { VERSION } from '../version.js';
import { leanHeap } from '../heap.js';
import { native } from '../native/addon.js';
import { completionScript } from './completion.js';
import { EXAMPLES, manPage } from './help.js';
import { fail, usage, writeOut } from './report.js';
import type { GlobalOpts } from './run.js';

// every command keeps V8's young generation lean (heap.ts); a checkpoint asks for the old
// generation too (run.ts: CheckpointOptions.leanHeap)
leanHeap(false);

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

function signalArg(v: string): string {
  if (signalNumber(v) === undefined) throw new InvalidArgumentError(`no such signal "${v}"`);
  return v;
}

/**
 * V8 optimizes a function (TurboFan, on another CPU) once it has run ~67 KB of bytecode; a
 * checkpoint or restart runs most of its code a few hundred times at most, so most of those
 * compilations never paid back (checkpoint of a tree of 100: ~25% of the command's CPU; a
 * restart's took the CPU the helper needed). Six times that budget leaves them to the really hot
 * loops (a tree of 100 x 400 fds: checkpoint CPU 1.21 -> 1.04 s). Set once the code cache was
 * taken (V8 accepts a cache only from the same flags).
 *
 * That goes for Node's own modules too: one loaded after a flag changed is compiled without
 * the code cache Node has for it (~0.6 ms for internal/abort_controller instead of ~0.05), so
 * the one a command loads later (run.ts's AbortController: the global's getter loads it) is
 * loaded first.
 */
function fewerOptimizations(): void {
  void AbortController; // the global's getter loads internal/abort_controller
  native().setV8Flags('--interrupt-budget=400000'); // the addon: node:v8 loads the stream modules
}

const program = new Command();
program
  .name('ucr')
  .description('Userspace checkpoint/restart of Linux processes')
  .version(VERSION, '-V, --version')
  .option('--log-level <level>', 'structured log level: trace, debug, info, warn, error, fatal, silent (default: debug with --log-file, else silent)')
  .option('--log-file <file>', 'write structured logs as JSON lines to this file (default: stderr; human lines on a terminal)')
  .option('-v, --verbose', 'print per-phase timings and a summary line on stderr (the summary is printed on a terminal anyway)')
  .helpCommand(false)
  // errors are printed by the catch at the end: one line and where to read more
  .configureOutput({ outputError: () => {}, writeErr: () => {}, writeOut })
  .exitOverride();

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
    new Option('--external-unix <policy>', 'a unix socket whose peer is outside the tree: refuse (default), or close: restore it with its peer gone (reads get the queued bytes, then EOF), or reconnect: as close, but a datagram socket connected to a named socket (with nothing queued) connects to that name again on restart')
      .choices(['refuse', 'close', 'reconnect'])
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
  .option('--no-clobber', 'refuse to replace an existing output file (by default it is replaced atomically once the new image is complete)')
  .option('--json', 'print the result (pids, bytes, phase timings) as JSON on stdout (not with -o -)')
  .action(
    async (
      pid: number | undefined,
      o: { output: string; kill?: boolean; killAfterAck?: boolean; ackFd?: number; ackTimeout: number; compress?: boolean; allowLeaks?: boolean; json?: boolean; session?: number; pgid?: number; vforkWait: number; externalUnix?: 'refuse' | 'close' | 'reconnect'; tcp?: 'close' | 'established'; skip?: 'sockets'; actionScript?: string; notifySignal?: string; trace?: string; clobber: boolean },
    ) => {
      const g = program.opts<GlobalOpts>();
      if ((pid === undefined) === (o.session === undefined && o.pgid === undefined) || (o.session !== undefined && o.pgid !== undefined))
        usage('checkpoint', 'give either a pid, --session <sid> or --pgid <pgid>');
      if (o.ackFd !== undefined && !o.killAfterAck) usage('checkpoint', '--ack-fd goes with --kill-after-ack');
      fewerOptimizations();
      const { runCheckpoint } = await import('./run.js');
      await runCheckpoint(
        pid ?? 0,
        {
          session: o.session,
          pgid: o.pgid,
          vforkWaitMs: o.vforkWait,
          output: o.output,
          noClobber: !o.clobber,
          kill: o.kill,
          killAfterAck: o.killAfterAck ? { fd: o.ackFd, timeoutMs: o.ackTimeout } : undefined,
          compress: o.compress,
          allowLeaks: o.allowLeaks,
          externalUnix: o.externalUnix,
          tcp: o.tcp,
          skip: o.skip ? [o.skip] : undefined,
          actionScript: o.actionScript,
          notifySignal: o.notifySignal,
          json: o.json,
          trace: o.trace,
        },
        g,
      );
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
  .option('--parallel <n>', 'restore this many tasks at once, each by its own tracer (default: two per CPU up to 256 tasks, the CPU count above)', intArg('--parallel', 1))
  .option('--inherit-fd <slot=fd>', "connect the image's external stdio slot (0-2) to this fd of ucr instead of ucr's own stdio (repeatable)", inheritFd, [] as [number, number][])
  .option('--action-script <file>', 'run this at pre-restore, post-restore (non-zero exit: nothing is left) and post-resume')
  .option('--notify-signal <sig>', 'queue this signal (si_value 2) to every restored task with a handler for it once all run', signalArg)
  .option('--trace <file>', 'write the per-task, per-phase timeline as Chrome trace-event JSON (Perfetto, chrome://tracing)')
  .option('--ack-fd <fd>', 'once the image is here whole and verified, acknowledge it on this fd (for checkpoint --kill-after-ack)', intArg('--ack-fd'))
  .option('--tcp-close', 'every TCP connection of the image comes back closed (state CLOSE: reads get EOF, writes EPIPE; its queues are dropped)')
  .action(
    async (o: {
      input: string;
      tcpClose?: boolean;
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
      fewerOptimizations();
      const { runRestart } = await import('./run.js');
      await runRestart(
        {
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
          tcpClose: o.tcpClose,
          json: o.json,
          trace: o.trace,
        },
        g,
      );
    },
  );

program
  .command('inspect')
  .description('describe an image on one screen (and check that it is complete), or print a --trace file as a table')
  .argument('[file]', "image file, or '-' for stdin")
  .option('--all', 'every mapping, fd, register, signal and timer of every task')
  .option('--task <pid>', 'everything about this task of the image', intArg('--task', 1))
  .option('--json', 'machine-readable JSON (everything)')
  .option('--verify', 'also verify every page checksum')
  .option('--trace <file>', 'print this trace file (from checkpoint/restart --trace) as a table instead')
  .action(async (file: string | undefined, o: { json?: boolean; verify?: boolean; trace?: string; all?: boolean; task?: number }) => {
    if (!file && !o.trace) usage('inspect', 'give an image file (or --trace <file>)');
    const { runInspect } = await import('./run.js');
    await runInspect(file, o);
  });

program
  .command('help')
  .description('show the manual of a command, with examples')
  .argument('[command]', 'checkpoint, restart, inspect, completion or version')
  .action((name: string | undefined) => {
    if (!name) return void writeOut(program.helpInformation());
    const cmd = program.commands.find((c) => c.name() === name);
    if (!cmd) usage('help', `no command '${name}' (commands: ${program.commands.map((c) => c.name()).join(', ')})`);
    writeOut(manPage(cmd));
  });

program
  .command('completion')
  .description('print a shell completion script: eval "$(ucr completion bash)", or in ~/.zshrc: eval "$(ucr completion zsh)"')
  .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
  .action((shell: 'bash' | 'zsh') => {
    writeOut(completionScript(program, shell));
  });

program
  .command('version')
  .description('print the version and image format')
  .action(async () => {
    const { FORMAT_MAJOR, FORMAT_MINOR } = await import('../image/format.js');
    writeOut(`ucr ${VERSION} (image format ${FORMAT_MAJOR}.${FORMAT_MINOR})\n`);
  });

for (const cmd of program.commands) {
  const examples = EXAMPLES[cmd.name()];
  if (examples) cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n`);
  // a usage error names the command it is about
  cmd.exitOverride((err) => {
    throw Object.assign(err, { command: cmd.name() });
  });
}

// No top-level await: the bundle is a CommonJS script, so that its compiled code can be cached
// (scripts/bundle.mjs, bin/ucr). main runs as a microtask, as the body of an ES module does.
async function main(): Promise<void> {
  try {
    if (process.argv.length <= 2) usage(undefined, `give a command: ${program.commands.map((c) => c.name()).join(', ')}`);
    await program.parseAsync(process.argv);
  } catch (e) {
    if (!(e instanceof CommanderError)) fail(e);
    // help and version were printed already
    if (e.exitCode === 0) process.exit(0);
    const command = (e as CommanderError & { command?: string }).command;
    if (e.code === 'commander.help') usage(command, `give a command: ${program.commands.map((c) => c.name()).join(', ')}`);
    usage(command, e.message);
  }
}
void Promise.resolve().then(main);
