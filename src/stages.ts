/**
 * The stages of a checkpoint and of a restart, in the order they run: the one list the code
 * times (PhaseClock in events.ts takes its names from here), the --trace output labels (who runs
 * each stage) and the docs show (docs/architecture.md's tables are rendered from it by
 * renderStageTable, and test/layout.test.ts checks they match; `npm run docs:stages` rewrites
 * them).
 *
 * A stage runs once for the tree, or once per task (`perTask`); `within` names the stage it
 * runs inside of (its time is part of that stage's). `action` runs at several points (the
 * --action-script hooks, named in the phase's detail).
 */

export type StageRunner = 'coordinator' | 'helper' | 'tracer worker' | 'task';

export interface Stage {
  readonly name: string;
  /** who does the work (the coordinator waits for it otherwise) */
  readonly by: StageRunner;
  readonly perTask?: boolean;
  readonly within?: string;
  /** what happens, in a few words */
  readonly what: string;
  /** the helper event that ends it (see the protocol), if any */
  readonly until?: string;
}

export const CHECKPOINT_STAGES = [
  { name: 'action', by: 'coordinator', what: 'the --action-script hook: pre-dump (before anything), post-dump (image complete, tree still frozen)' },
  { name: 'notify', by: 'coordinator', what: '--notify: the signal sent to the tree, and the wait for its readiness' },
  { name: 'freeze', by: 'helper', perTask: true, what: 'every thread seized and stopped, top-down, registers and mask saved', until: 'frozen' },
  { name: 'capture', by: 'helper', perTask: true, what: 'registers, xstate, signals, timers, credentials, limits, attributes (scheduling, personality, membarrier, mlockall) by ptrace and injected calls, every task\'s `state` sent at once; seccomp filters (`seccomp`); /proc: mappings; page runs, many mappings per `runs` command', until: 'state' },
  { name: 'files', by: 'coordinator', what: 'every fd of the tree as a reference to an open-file object (kcmp), queued bytes, sockets and their options, a held terminal\'s modes (`ttymodes`); leaks refused' },
  { name: 'objects', by: 'helper', what: 'content objects (shared anonymous memory, memfds, unlinked files): their page runs' },
  { name: 'ipc', by: 'helper', what: 'the System V objects of the tree\'s IPC namespace' },
  { name: 'write-metadata', by: 'coordinator', what: 'prelude, HEADER, TREE, FILES, IPC, TASK records; the restart\'s checks start on those bytes' },
  { name: 'write-pages', by: 'helper', what: 'page records of every task and content object, through the writer process once 16 MiB went out or from the start for a larger first source, before that written by the helper itself (every task\'s `pages` sent at once, each digest chained on the one before)' },
  { name: 'pages', by: 'helper', perTask: true, within: 'write-pages', what: 'one task\'s page records', until: 'pages' },
  { name: 'write-shm', by: 'helper', what: 'System V shared memory contents as SHM records' },
  { name: 'check', by: 'coordinator', what: 'wait for the restart\'s own checks of the metadata (reader, validators, plan, the helper\'s plan parser: `check`)', until: 'checked' },
  { name: 'ack', by: 'helper', what: '--kill-after-ack: the restart acknowledged the whole image', until: 'acked' },
  { name: 'drain', by: 'helper', what: '--kill into a pipe or socket: its reader took the last byte', until: 'drained' },
  { name: 'kill', by: 'helper', what: '--kill: the tree killed while frozen (outside TCP peers kept by the keeper)', until: 'killed' },
  { name: 'resume', by: 'helper', what: 'every task put back as it was and detached', until: 'released' },
] as const satisfies readonly Stage[];

export const RESTART_STAGES = [
  { name: 'action', by: 'coordinator', what: 'the --action-script hook: pre-restore (before anything), post-restore (tasks restored, not yet running), post-resume' },
  { name: 'read-metadata', by: 'coordinator', what: 'the metadata records read (bounded) and validated' },
  { name: 'check', by: 'coordinator', what: 'kernel and CPU, files, System V ids, wanted pids free; the tree plan' },
  { name: 'spool', by: 'helper', what: 'a piped image whose producer still holds a pid: the rest of the stream into a memfd, acknowledged', until: 'spooled' },
  { name: 'plan', by: 'helper', what: 'the plan lines read and checked', until: 'planned' },
  { name: 'create', by: 'helper', what: 'System V objects, every file object at high fds, then the tree: clone3(set_tid) (CLONE_PARENT for a task whose creator is its sibling), sessions, groups, zombies; each task\'s fds; tasks into their cgroups (cgroups.md)', until: 'created' },
  { name: 'memory', by: 'helper', what: 'the page records into the tasks (userfaultfd or process_vm_writev), the trailer', until: 'loaded' },
  { name: 'map', by: 'tracer worker', perTask: true, within: 'memory', what: 'one task\'s address space: unmap, vdso, every mapping', until: 'mapped' },
  { name: 'verify', by: 'coordinator', what: 'the trailer matches the records, bytes and digest; commit' },
  { name: 'resume', by: 'helper', what: 'the caller\'s terminal to the job (with the job\'s modes), TCP connections out of repair mode, every task detached together', until: 'running' },
  { name: 'finish', by: 'tracer worker', perTask: true, within: 'resume', what: 'one task\'s last state: protections, mm, threads, signals, timers, attributes (personality, mlockall, membarrier, loginuid, root, oom_score_adj, scheduling), credentials, seccomp, registers', until: 'finished' },
  { name: 'notify', by: 'coordinator', what: '--notify: the signal that tells the restored tree it was restarted' },
] as const satisfies readonly Stage[];

export type CheckpointStage = (typeof CHECKPOINT_STAGES)[number]['name'];
export type RestartStage = (typeof RESTART_STAGES)[number]['name'];

export function stagesOf(op: 'checkpoint' | 'restart'): readonly Stage[] {
  return op === 'checkpoint' ? CHECKPOINT_STAGES : RESTART_STAGES;
}

/** The stage named `name` of op, if there is one. */
export function stageOf(op: 'checkpoint' | 'restart', name: string): Stage | undefined {
  return stagesOf(op).find((s) => s.name === name);
}

/** The markdown table of op's stages (docs/architecture.md). */
export function renderStageTable(op: 'checkpoint' | 'restart'): string {
  const rows = stagesOf(op).map((s, i) => {
    const name = s.within ? `${s.name} (within ${s.within})` : s.name;
    const by = s.perTask ? `${s.by}, per task` : s.by;
    return `| ${i + 1} | ${name} | ${by} | ${s.what} | ${s.until ? `\`${s.until}\`` : ''} |`;
  });
  return ['| # | stage | by | what happens | ends with |', '|---|---|---|---|---|', ...rows].join('\n');
}
