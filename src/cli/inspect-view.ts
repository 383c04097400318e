/** Human rendering of `ucr inspect`. */
import type { InspectResult } from '../orchestrator/inspect.js';
import { REG, regValue, type TaskImage } from '../image/types.js';

const PROT = ['---', 'r--', '-w-', 'rw-', '--x', 'r-x', '-wx', 'rwx'];
const hex = (n: number | bigint) => '0x' + n.toString(16);
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function taskLines(t: TaskImage): string[] {
  const L: string[] = [];
  const mapped = t.vmas.reduce((s, v) => s + v.end - v.start, 0);
  const saved = t.pageRuns.reduce((s, [, n]) => s + n * 4096, 0);
  L.push(`    exe ${t.exe}  cwd ${t.cwd}  umask ${t.umask.toString(8).padStart(4, '0')}  uid ${t.creds.uid.join('/')}`);
  L.push(
    `    rip ${hex(regValue(t.regs, REG.rip))}  rsp ${hex(regValue(t.regs, REG.rsp))}  orig_rax ${BigInt.asIntN(64, regValue(t.regs, REG.orig_rax))}  rax ${BigInt.asIntN(64, regValue(t.regs, REG.rax))}  fs_base ${hex(regValue(t.regs, REG.fs_base))}`,
  );
  L.push(`    memory: ${t.vmas.length} mappings, ${mib(mapped)} mapped, ${mib(saved)} saved in ${t.pageRuns.length} runs`);
  for (const v of t.vmas)
    L.push(
      `      ${hex(v.start).padStart(14)}-${hex(v.end).padEnd(14)} ${PROT[v.prot]}${v.shared ? 's' : 'p'} ${v.kind.padEnd(5)} ${v.fill ? 'pages' : '     '} ${v.path ?? ''}`,
    );
  for (const s of t.specials) L.push(`      ${hex(s.start).padStart(14)}-${hex(s.end).padEnd(14)} special     ${s.name}`);
  L.push(`    fds:`);
  const files = new Map(t.files.map((f) => [f.id, f]));
  for (const fd of t.fds) {
    const f = files.get(fd.file)!;
    const shared = t.fds.filter((x) => x.file === fd.file).length > 1 ? ` (shares file #${f.id})` : '';
    L.push(`      ${String(fd.fd).padStart(4)} ${f.kind.padEnd(8)} ${f.path} flags 0${f.flags.toString(8)} pos ${f.pos}${fd.cloexec ? ' cloexec' : ''}${shared}`);
  }
  const handlers = t.sigactions.filter((a) => a.handler > 1).map((a) => a.sig);
  L.push(`    signals: blocked ${hex(BigInt(t.sigmask))}, handlers for ${handlers.join(' ') || 'none'}`);
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
  for (const e of r.meta.tree.tasks) {
    L.push(`  ${e.pid} ${e.comm} [${e.state}] ppid ${e.ppid} pgid ${e.pgid} sid ${e.sid} threads ${e.threads}`);
    const t = r.meta.tasks.find((x) => x.pid === e.pid);
    if (t) L.push(...taskLines(t));
  }
  return L.join('\n');
}

/** JSON for machines: bigints as decimal strings, byte blobs as hex. */
export function inspectJson(r: InspectResult): string {
  return JSON.stringify(
    r,
    (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v),
    2,
  );
}
