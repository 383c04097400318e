/** Human rendering of `ucr inspect`. */
import type { InspectResult } from '../orchestrator/inspect.js';
import { REG, regValue, type FileImage, type IpcPerm, type TaskImage } from '../image/types.js';

const PROT = ['---', 'r--', '-w-', 'rw-', '--x', 'r-x', '-wx', 'rwx'];
const hex = (n: number | bigint) => '0x' + n.toString(16);
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function taskLines(t: TaskImage, files: Map<number, FileImage>, holders: Map<number, number>): string[] {
  const L: string[] = [];
  const mapped = t.vmas.reduce((s, v) => s + v.end - v.start, 0);
  const saved = t.pageRuns.reduce((s, [, n]) => s + n * 4096, 0);
  L.push(`    exe ${t.exe}  cwd ${t.cwd}  umask ${t.umask.toString(8).padStart(4, '0')}`);
  L.push(
    `    rip ${hex(regValue(t.regs, REG.rip))}  rsp ${hex(regValue(t.regs, REG.rsp))}  orig_rax ${BigInt.asIntN(64, regValue(t.regs, REG.orig_rax))}  rax ${BigInt.asIntN(64, regValue(t.regs, REG.rax))}  fs_base ${hex(regValue(t.regs, REG.fs_base))}`,
  );
  L.push(`    memory: ${t.vmas.length} mappings, ${mib(mapped)} mapped, ${mib(saved)} saved in ${t.pageRuns.length} runs`);
  for (const v of t.vmas)
    L.push(
      `      ${hex(v.start).padStart(14)}-${hex(v.end).padEnd(14)} ${PROT[v.prot]}${v.shared ? 's' : 'p'} ${v.kind.padEnd(5)} ${v.fill ? 'pages' : '     '} ${v.path ?? ''}${v.shm ? ` segment ${v.shm.id}${v.shm.flags & 0o10000 ? ' read-only' : ''}` : ''}`,
    );
  for (const s of t.specials) L.push(`      ${hex(s.start).padStart(14)}-${hex(s.end).padEnd(14)} special     ${s.name}`);
  L.push(`    fds:`);
  for (const fd of t.fds) {
    const f = files.get(fd.file)!;
    const shared = (holders.get(f.id) ?? 0) > 1 ? ` (file #${f.id}, shared)` : '';
    const pipe = f.pipe ? ` ${f.pipe.end} end` : '';
    L.push(`      ${String(fd.fd).padStart(4)} ${f.kind.padEnd(8)} ${f.path}${pipe} flags 0${f.flags.toString(8)} pos ${f.pos}${fd.cloexec ? ' cloexec' : ''}${shared}`);
  }
  const handlers = t.sigactions.filter((a) => a.handler > 1).map((a) => a.sig);
  const pending = (t.signals.pending.length + t.signals.shared.length) / 128;
  L.push(`    signals: blocked ${hex(BigInt(t.sigmask))}, handlers for ${handlers.join(' ') || 'none'}, ${pending} pending`);
  if (t.threads.length)
    L.push(
      `    threads: ${t.leaderExited ? 'main thread exited; ' : ''}${t.threads.map((th) => `${th.tid} (${th.comm}, rip ${hex(regValue(th.regs, REG.rip))})`).join(', ')}`,
    );
  const armed = t.itimers.filter((it) => it[2] || it[3]).length;
  if (armed || t.posixTimers.length) L.push(`    timers: ${armed} interval timer(s), POSIX timer ids ${t.posixTimers.map((p) => p.id).join(' ') || 'none'}`);
  L.push(`    creds: uid ${t.creds.uid.join('/')} gid ${t.creds.gid.join('/')} groups ${t.creds.groups.join(',') || '-'}${t.creds.caps ? ` CapEff ${t.creds.caps.effective}` : ''}`);
  return L;
}

export function renderInspect(r: InspectResult): string {
  const h = r.meta.header;
  const L = [
    `image ${r.image}: ucr format ${r.format}, complete (trailer ok${r.verified ? ', all page checksums verified' : ''})`,
    `  made by ${h.tool} at ${h.createdAt} as uid ${h.owner.uid}`,
    `  host: ${h.arch}, kernel ${h.kernel.release} ${h.kernel.version}, xcr0 ${hex(BigInt(h.cpu.xcr0))}, xstate ${h.cpu.xstateSize} bytes`,
    `  ${r.meta.tasks.length} task(s), ${r.pageRecords} page records, ${mib(r.pageBytes)} of pages`,
    `tree:`,
  ];
  const files = new Map(r.meta.files.files.map((f) => [f.id, f]));
  const holders = new Map<number, number>();
  for (const t of r.meta.tasks) for (const fd of t.fds) holders.set(fd.file, (holders.get(fd.file) ?? 0) + 1);
  const depth = new Map<number, number>();
  for (const e of r.meta.tree.tasks) {
    const d = (depth.get(e.ppid) ?? -1) + 1;
    depth.set(e.pid, d);
    const pad = '  '.repeat(d);
    const status = e.state === 'zombie' ? ` exit status ${e.exitStatus}` : '';
    L.push(`${pad}  ${e.pid} ${e.comm} [${e.state}${status}] ppid ${e.ppid} pgid ${e.pgid} sid ${e.sid} threads ${e.threads}`);
    const t = r.meta.tasks.find((x) => x.pid === e.pid);
    if (t) L.push(...taskLines(t, files, holders).map((l) => pad + l));
  }
  const ext = r.meta.files.files.filter((f) => f.kind === 'external');
  const leaks = r.meta.files.files.filter((f) => f.leak);
  L.push(`external objects (connected to the restarting process's stdio): ${ext.map((f) => `#${f.id} ${f.path} -> stdio ${f.stdio}`).join(', ') || 'none'}`);
  L.push(`leaked objects (also held outside the tree): ${leaks.map((f) => `#${f.id} ${f.path} held by ${f.leak!.pid} (${f.leak!.comm}) fd ${f.leak!.fd}`).join(', ') || 'none'}`);
  for (const p of r.meta.files.pipes) L.push(`pipe ${p.id}: ${p.data.length} bytes queued, size ${p.size}`);
  for (const o of r.meta.files.objects ?? []) {
    const saved = o.runs.reduce((a, [, n]) => a + n * 4096, 0);
    const what =
      o.kind === 'memfd'
        ? `memfd "${o.name}"${o.seals ? ` seals 0x${o.seals.toString(16)}` : ''}`
        : o.kind === 'unlinked'
          ? `unlinked file ${o.name} mode 0${o.mode!.toString(8)}`
          : 'shared anonymous memory';
    L.push(`content object ${o.id}: ${what}, ${o.size < 1048576 ? `${o.size} bytes` : mib(o.size)}, ${mib(saved)} saved in ${o.runs.length} run(s)`);
  }
  L.push(...ipcLines(r));
  for (const f of r.meta.files.files) {
    const u = f.unix;
    if (!u) continue;
    const how = u.listening ? `listening (backlog ${u.backlog})` : u.conn === 'none' ? 'not connected' : `${u.conn}${u.peer >= 0 ? ` with #${u.peer}` : ', peer gone'}`;
    const bytes = u.queue.reduce((s, m) => s + m.length, 0);
    const ext = u.external ? `, peer was held by ${u.external.pid} (${u.external.comm}): restored closed` : '';
    L.push(`unix #${f.id}: ${f.path}${u.unlinked ? ' (unlinked)' : ''}, ${how}, ${bytes} bytes queued in ${u.queue.length} message(s)${ext}`);
  }
  const closed = r.meta.files.files.filter((f) => f.kind === 'closed');
  if (closed.length) L.push(`skipped (restored closed): ${closed.map((f) => `#${f.id} ${f.path}`).join(', ')}`);
  return L.join('\n');
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
  return JSON.stringify(
    r,
    (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v),
    2,
  );
}
