/**
 * Human rendering of `ucr inspect`: the header, the task tree drawn as a tree, a memory summary,
 * fds per task, shared objects, external and leaked objects, pipes, then per-task details
 * (registers, mappings, signals, threads, timers, credentials).
 */
import { fileFormats, formatOf } from '../image/kinds/index.js';
import { OBJECT_KINDS } from '../image/object-kinds.js';
import { printable, printableJson } from '../image/printable.js';
import type { InspectResult } from '../orchestrator/inspect.js';
import { REG, regValue, type FileImage, type IpcPerm, type TaskImage, type TreeEntry } from '../image/types.js';
import { UcrError } from '../errors.js';
import { mapText, openFlags, protText, returnText, signalName, sigsetText, syscallName } from './names.js';

const hex = (n: number | bigint) => '0x' + n.toString(16);
export const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function stateText(e: TreeEntry): string {
  if (e.state !== 'zombie') return e.state;
  const st = e.exitStatus ?? 0;
  return (st & 0x7f) === 0 ? `zombie, exit ${(st >> 8) & 0xff}` : `zombie, ${signalName(st & 0x7f)}`;
}

/** The task tree with box-drawing branches: pid, comm, state, sid/pgid, threads, and what
 * `more` adds for a task. */
export function drawTree(entries: TreeEntry[], more: (e: TreeEntry) => string = () => ''): string[] {
  const byPid = new Map(entries.map((e) => [e.pid, e]));
  const kids = new Map<number, TreeEntry[]>();
  const tops: TreeEntry[] = [];
  for (const e of entries) {
    if (e !== entries[0] && byPid.has(e.ppid)) kids.set(e.ppid, [...(kids.get(e.ppid) ?? []), e]);
    else tops.push(e);
  }
  const L: string[] = [];
  const line = (e: TreeEntry) =>
    `${e.pid} ${e.comm} [${stateText(e)}] sid ${e.sid} pgid ${e.pgid}${e.threads > 1 ? ` threads ${e.threads}` : ''}${e.nsPid !== undefined ? ` (pid ${e.nsPid} in its namespace)` : ''}${more(e)}`;
  const walk = (e: TreeEntry, prefix: string, last: boolean, top: boolean) => {
    L.push(top ? `  ${line(e)}` : `  ${prefix}${last ? '└─ ' : '├─ '}${line(e)}`);
    const list = (kids.get(e.pid) ?? []).sort((a, b) => a.pid - b.pid);
    const next = top ? '' : prefix + (last ? '   ' : '│  ');
    list.forEach((k, i) => walk(k, next, i === list.length - 1, false));
  };
  for (const t of tops) {
    if (t !== entries[0]) L.push(`  (parent ${t.ppid} not in the image)`);
    walk(t, '', true, true);
  }
  return L;
}

function memoryLine(t: TaskImage): string {
  const mapped = t.vmas.reduce((s, v) => s + v.end - v.start, 0);
  const saved = t.pageRuns.reduce((s, [, n]) => s + n * 4096, 0);
  const byKind = new Map<string, number>();
  for (const v of t.vmas) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + v.end - v.start);
  const kinds = [...byKind].map(([k, n]) => `${k} ${mib(n)}`).join(', ');
  return `  ${String(t.pid).padEnd(8)} ${String(t.vmas.length).padStart(8)} ${mib(mapped).padStart(12)} ${mib(saved).padStart(12)} ${String(t.pageRuns.length).padStart(6)}  ${kinds}`;
}

/** "kind path", what the kind adds (src/image/kinds/), and the locks held through the file */
export function fileText(f: FileImage): string {
  const range = (l: { start: number; end: number }) => `${l.start}-${l.end < 0 ? 'EOF' : l.end}`;
  const locks = (f.locks ?? []).map((l) => ` [${l.kind} ${l.type} lock ${range(l)}${l.task ? ` of ${l.task}` : ''}]`).join('');
  return `${f.kind} ${f.path}${formatOf(f.kind).text?.(f) ?? ''}${locks}`;
}

function detailLines(t: TaskImage, prevOf: Map<number, number>): string[] {
  const L: string[] = [];
  L.push(`  ${t.pid}: exe ${t.exe}  cwd ${t.cwd}  umask ${t.umask.toString(8).padStart(4, '0')}`);
  const shares = [t.attrs?.files && `fd table (CLONE_FILES) of ${t.attrs.files}`, t.attrs?.fs && `fs info (CLONE_FS) of ${t.attrs.fs}`].filter(Boolean);
  if (shares.length) L.push(`    shares the ${shares.join(' and the ')}`);
  const bound = (t.attrs?.sched ?? []).filter((s) => s.cpus).map((s) => `${s.tid} on CPUs ${s.cpus!.join(',')}`);
  if (bound.length) L.push(`    affinity: ${bound.join(', ')}`);
  const nr = BigInt.asIntN(64, regValue(t.regs, REG.orig_rax));
  L.push(
    `    rip ${hex(regValue(t.regs, REG.rip))}  rsp ${hex(regValue(t.regs, REG.rsp))}  ${nr >= 0n ? `in ${syscallName(nr)}` : 'not in a system call'}  rax ${returnText(BigInt.asIntN(64, regValue(t.regs, REG.rax)))}  fs_base ${hex(regValue(t.regs, REG.fs_base))}`,
  );
  for (const v of t.vmas)
    L.push(
      `      ${hex(v.start).padStart(14)}-${hex(v.end).padEnd(14)} ${protText(v.prot).padEnd(20)} ${mapText(v.shared).padEnd(11)} ${v.kind.padEnd(5)} ${v.fill ? 'pages' : '     '} ${v.path ?? ''}${v.shm ? ` segment ${v.shm.id}${v.shm.flags & 0o10000 ? ' read-only' : ''}` : ''}${v.aio ? ` head ${v.aio.head} tail ${v.aio.tail}, ${v.aio.events.length / 32} events not yet reaped` : ''}`,
    );
  for (const s of t.specials) L.push(`      ${hex(s.start).padStart(14)}-${hex(s.end).padEnd(14)} special ${s.name}`);
  const handlers = t.sigactions.filter((a) => a.handler > 1).map((a) => signalName(a.sig));
  const pending = (t.signals.pending.length + t.signals.shared.length) / 128;
  L.push(`    signals: blocked ${sigsetText(t.sigmask)}, handlers for ${handlers.join(' ') || 'none'}, ${pending} pending`);
  if (t.threads.length)
    L.push(`    threads: ${t.leaderExited ? 'main thread exited; ' : ''}${t.threads.map((th) => `${th.tid} (${th.comm}, rip ${hex(regValue(th.regs, REG.rip))})`).join(', ')}`);
  const armed = t.itimers.filter((it) => it[2] || it[3]).length;
  if (armed || t.posixTimers.length) L.push(`    timers: ${armed} interval timer(s), POSIX timer ids ${t.posixTimers.map((p) => `${p.id}${p.overrun ? ` (${p.overrun} overruns)` : ''}`).join(' ') || 'none'}`);
  // seccomp: per thread its mode, and its filters' ids oldest first (docs/seccomp.md)
  const chainOf = (id: number, byId: Map<number, number>): number[] => (id < 0 ? [] : [...chainOf(byId.get(id) ?? -1, byId), id]);
  if (t.seccomp?.threads.length)
    L.push(`    seccomp: ${t.seccomp.threads.map(([tid, mode, f]) => `${tid} ${mode === 1 ? 'strict' : `filters ${chainOf(f, prevOf).join(',') || f}`}`).join(', ')}`);
  L.push(`    creds: uid ${t.creds.uid.join('/')} gid ${t.creds.gid.join('/')} groups ${t.creds.groups.join(',') || '-'}${t.creds.caps ? ` CapEff ${t.creds.caps.effective}` : ''}`);
  return L;
}

/** The tree's cgroup sets (format 1.7, docs/cgroups.md): each with its processes; a hierarchy
 * at its root left out. */
function cgroupLines(r: InspectResult): string[] {
  const sets = r.meta.tree.cgroups;
  if (!sets) return [];
  return ['cgroups:', ...sets.map((set, i) => {
    const pids = r.meta.tree.tasks.filter((e) => e.cgroup === i).map((e) => e.pid);
    return `  ${pids.join(' ')}: ${set.filter((l) => !l.endsWith(':/')).join('  ') || 'every hierarchy at its root'}`;
  })];
}

/** Every task of the image, or only `task`'s fds, mappings and details. */
export function renderInspect(r: InspectResult, opts: { task?: number } = {}): string {
  const h = r.meta.header;
  const tasks = opts.task === undefined ? r.meta.tasks : r.meta.tasks.filter((t) => t.pid === opts.task);
  if (!tasks.length)
    throw new UcrError(`--task ${opts.task}: no live task ${opts.task} in the image (its tasks: ${r.meta.tasks.map((t) => t.pid).join(' ')})`, { code: 'EUSAGE' });
  const files = new Map(r.meta.files.files.map((f) => [f.id, f]));
  const L = [
    `image ${r.image}: ucr format ${r.format}, complete (trailer ok${r.verified ? ', all page checksums verified' : ''})`,
    `  made by ${h.tool} at ${h.createdAt} as uid ${h.owner.uid}, root ${h.root}`,
    `  host: ${h.arch}, kernel ${h.kernel.release} ${h.kernel.version}, xcr0 ${hex(BigInt(h.cpu.xcr0))}, xstate ${h.cpu.xstateSize} bytes`,
    `  ${r.meta.tree.tasks.length} task(s) (${tasks.length} live), ${r.pageRecords} page records, ${mib(r.pageBytes)} of pages${r.compressedBytes !== undefined ? ` (lz4: ${mib(r.compressedBytes)} in compressed records)` : ''}`,
    `tree:`,
    ...drawTree(r.meta.tree.tasks),
    ...cgroupLines(r),
    `memory:`,
    `  ${'pid'.padEnd(8)} ${'mappings'.padStart(8)} ${'mapped'.padStart(12)} ${'saved'.padStart(12)} ${'runs'.padStart(6)}  by kind`,
    ...tasks.map(memoryLine),
    `fds:`,
  ];
  const holders = new Map<number, string[]>();
  for (const t of tasks) {
    L.push(`  ${t.pid}:${t.fds.length ? '' : ' none'}`);
    for (const fd of t.fds) {
      const f = files.get(fd.file);
      holders.set(fd.file, [...(holders.get(fd.file) ?? []), `${t.pid} fd ${fd.fd}`]);
      L.push(`    ${String(fd.fd).padStart(4)} #${String(fd.file).padEnd(4)} ${f ? fileText(f) : '?'} ${openFlags(f?.flags ?? 0)} pos ${f?.pos ?? 0}${fd.cloexec ? ' cloexec' : ''}`);
    }
  }
  const shared = [...holders].filter(([, hs]) => hs.length > 1);
  L.push(`shared objects:${shared.length ? '' : ' none'}`);
  for (const [id, hs] of shared) L.push(`  #${id} ${fileText(files.get(id)!)}: ${hs.join(', ')}`);
  for (const p of r.meta.files.pipes) L.push(`pipe ${p.id}: ${p.data.length} bytes queued, size ${p.size}`);
  L.push(...listedLines(r, 'pipes'));
  L.push(leaksText(r.meta.files.files.filter((f) => f.leak)));
  for (const o of r.meta.files.objects ?? []) {
    const saved = o.runs.reduce((a, [, n]) => a + n * 4096, 0);
    const what = OBJECT_KINDS[o.kind].text(o, r.meta.files.files);
    const owner = o.owner ? ` owner ${o.owner[0]}:${o.owner[1]}` : '';
    L.push(`content object ${o.id}: ${what}${owner}, ${o.size < 1048576 ? `${o.size} bytes` : mib(o.size)}, ${mib(saved)} saved in ${o.runs.length} run(s)`);
  }
  L.push(...ipcLines(r));
  for (const f of r.meta.files.files) {
    const line = socketText(f);
    if (line) L.push(line);
  }
  L.push(...listedLines(r, 'sockets'));
  L.push('tasks:');
  const prevOf = new Map(r.meta.tasks.flatMap((t) => (t.seccomp?.filters ?? []).map((f) => [f.id, f.prev] as const)));
  for (const t of tasks) for (const l of detailLines(t, prevOf)) L.push(l);
  // image text (names, paths, comms) is the image author's: escaped as it reaches the terminal
  return L.map(printable).join('\n');
}

export function leaksText(leaks: FileImage[]): string {
  return `leaked objects (also held outside the tree): ${leaks.map((f) => `#${f.id} ${f.path} held by ${f.leak!.pid} (${f.leak!.comm}) fd ${f.leak!.fd}`).join(', ') || 'none'}`;
}

/** A socket's line: its state, queues and peer (the kind's detail); undefined for other files. */
export function socketText(f: FileImage): string | undefined {
  return formatOf(f.kind).detail?.(f);
}

/** The kinds whose files inspect --all lists on a line of their own, at that place. */
function listedLines(r: InspectResult, after: 'pipes' | 'sockets'): string[] {
  const L: string[] = [];
  for (const fmt of fileFormats) {
    if (fmt.listed?.after !== after) continue;
    const list = r.meta.files.files.filter((f) => f.kind === fmt.kind);
    if (list.length || fmt.listed.always) L.push(`${fmt.listed.heading}: ${list.map((f) => fmt.listed!.item(f)).join(', ') || 'none'}`);
  }
  return L;
}

function ipcLines(r: InspectResult): string[] {
  const ipc = r.meta.ipc;
  const L = [`System V IPC (${ipc.ownNamespace ? "the tree's own namespace" : "the checkpointer's namespace"}): ${ipc.shm.length + ipc.sem.length + ipc.msg.length ? '' : 'none'}`];
  const who = (x: IpcPerm) => `key 0x${(x.key >>> 0).toString(16).padStart(8, '0')} mode ${x.mode.toString(8)} owner ${x.uid}:${x.gid}`;
  for (const s of ipc.shm)
    L.push(`  shm ${s.id} ${who(s)} ${s.size} bytes${s.destroyed ? ', marked for destruction' : ''}${s.locked ? ', locked' : ''}`);
  if (ipc.shm.length) L.push(`  ${r.shmBytes} bytes of shared memory contents (all-zero pages left out)`);
  for (const s of ipc.sem) L.push(`  sem ${s.id} ${who(s)} values ${s.values.join(' ')}`);
  for (const m of ipc.msg)
    L.push(`  msg ${m.id} ${who(m)} ${m.messages.length} message(s), ${m.messages.reduce((a, e) => a + e.data.length, 0)} bytes, types ${m.messages.map((e) => String(e.type)).join(' ') || '-'}`);
  return L;
}

/** JSON for machines: bigints as decimal strings, byte blobs as hex. */
export function inspectJson(r: InspectResult): string {
  return printableJson(JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v), 2));
}
