/**
 * What a restart of an image would refuse here and now, without creating anything: the same
 * checks as restart's 'check' phase (host, image file, caller, mapped and open files, System V
 * ids, CPU affinities, pids), each one's reason collected instead of thrown. `ucr inspect` shows them as warnings.
 */
import type { ImageMetadata } from '../image/types.js';
import { opsOf } from '../kernel/fds/registry.js';
import { checkAffinity } from '../kernel/affinity.js';
import { checkIpcFree } from '../kernel/ipc.js';
import { checkMappedFiles } from '../kernel/memory.js';
import { pidState, readStat } from '../kernel/proc.js';
import { checkHost } from './host.js';
import { checkCallerMayRestore, checkImageSource, checkWithinOwner } from './trust.js';

/** Reasons a plain `ucr restart` of this image (read from fd, a file or a stream) would be
 * refused, each with the option that gets past it where there is one. */
export function restartRefusals(meta: ImageMetadata, input: { fd: number; name: string }): string[] {
  const reasons: string[] = [];
  const attempt = (check: () => unknown) => {
    try {
      check();
    } catch (e) {
      reasons.push(e instanceof Error ? e.message : String(e));
    }
  };
  attempt(() => checkHost(meta.header, false));
  attempt(() => {
    const trust = checkImageSource(input.fd, input.name, { vouched: false, trustImage: false });
    if (trust.owner !== undefined) checkWithinOwner(meta, trust.owner, input.name);
  });
  attempt(() => checkCallerMayRestore(meta));
  const stats = new Map();
  for (const t of meta.tasks) attempt(() => checkMappedFiles(t.pid, t.vmas, stats));
  for (const f of meta.files.files) attempt(() => opsOf(f.kind).check(f, { fileValidation: 'size' }));
  attempt(() => checkIpcFree(meta.ipc, { ipcns: meta.ipc.ownNamespace, skip: false }));
  attempt(() => checkAffinity(meta.tasks));
  const inUse: string[] = [];
  for (const t of meta.tree.tasks) {
    const st = pidState(t.pid);
    if (st === undefined || st === 'Z') continue;
    let who = '';
    try {
      who = ` (${readStat(t.pid).comm})`;
    } catch {
      /* gone meanwhile */
    }
    inUse.push(`${t.pid}${who}`);
  }
  if (inUse.length) reasons.push(`${inUse.length === 1 ? 'pid' : 'pids'} ${inUse.join(', ')} ${inUse.length === 1 ? 'is' : 'are'} in use (restart with --pids auto or --pidns)`);
  return reasons;
}
