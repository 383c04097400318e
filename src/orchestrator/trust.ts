/**
 * Who may restart what (the model is in docs/security.md). The uids an image records can be
 * forged (a checksum is no signature), so:
 *  - the image file itself must come from someone trusted: not writable by other users, owned by
 *    root or by the uid that made it (recorded in the header), unless --trust-image. An image
 *    read from a pipe or socket is as trusted as its producer (whoever could write to ucr);
 *  - a caller that is not root (CAP_CHECKPOINT_RESTORE + CAP_SYS_PTRACE) restores only images
 *    whose recorded credentials are its own: every task's uids, gids and groups, capabilities
 *    within its own, System V objects owned by it. Root restores what the image records.
 * Checked on the opened fd (no race with a renamed file), before anything is created.
 */
import fs from 'node:fs';
import { PermissionError } from '../errors.js';
import type { ImageMetadata } from '../image/types.js';

/** The image file: owner and mode (a regular file only). */
export function checkImageFile(fd: number, name: string, meta: ImageMetadata, trustImage: boolean): void {
  if (trustImage) return;
  const st = fs.fstatSync(fd);
  if (!st.isFile()) return;
  if (st.mode & 0o022)
    throw new PermissionError(`image ${name}: writable by other users (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}); refused (--trust-image to restart it anyway)`, { object: name, phase: 'check' });
  const owner = meta.header.owner.uid;
  if (st.uid !== 0 && st.uid !== owner)
    throw new PermissionError(`image ${name}: owned by uid ${st.uid}, neither root nor uid ${owner} that made it; refused (--trust-image to restart it anyway)`, { object: name, phase: 'check' });
}

function capsOf(status: string, line: string): bigint {
  const m = new RegExp(`^${line}:\\s*([0-9a-f]+)$`, 'm').exec(status);
  return m ? BigInt('0x' + m[1]) : 0n;
}

/** Capability names for a message: bit numbers are enough to act on. */
function bits(x: bigint): string {
  const out: number[] = [];
  for (let i = 0; i < 64; i++) if ((x >> BigInt(i)) & 1n) out.push(i);
  return out.join(',');
}

const CAP_SYS_PTRACE = 19;
const CAP_SYS_ADMIN = 21;
const CAP_CHECKPOINT_RESTORE = 40;

/**
 * What a restart that the kernel refused (EPERM) lacked, when the caller has neither root nor
 * CAP_CHECKPOINT_RESTORE (or CAP_SYS_ADMIN) + CAP_SYS_PTRACE in effect: the capabilities missing
 * and how to get them. undefined when the caller has them (the refusal is about something else).
 */
export function restorePrivilegeHint(): string | undefined {
  let eff: bigint;
  try {
    eff = capsOf(fs.readFileSync('/proc/self/status', 'utf8'), 'CapEff');
  } catch {
    return undefined;
  }
  const has = (cap: number) => ((eff >> BigInt(cap)) & 1n) === 1n;
  const missing = [
    ...(has(CAP_CHECKPOINT_RESTORE) || has(CAP_SYS_ADMIN) ? [] : ['CAP_CHECKPOINT_RESTORE']),
    ...(has(CAP_SYS_PTRACE) ? [] : ['CAP_SYS_PTRACE']),
  ];
  if (!missing.length) return undefined;
  let node = process.execPath;
  try {
    node = fs.realpathSync(node);
  } catch {
    /* as it is */
  }
  return (
    `restart needs root, or CAP_CHECKPOINT_RESTORE + CAP_SYS_PTRACE, and the caller (uid ${process.geteuid?.()}) lacks ${missing.join(' and ')}: ` +
    `run it with sudo, or give them to node for a user install: sudo setcap cap_checkpoint_restore,cap_sys_ptrace+ep ${node}`
  );
}

/** A caller that is not root restores only its own credentials. */
export function checkCallerMayRestore(meta: ImageMetadata): void {
  const self = { uid: process.getuid!(), euid: process.geteuid!(), gid: process.getgid!(), egid: process.getegid!() };
  if (self.euid === 0) return;
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  // the supplementary groups as the kernel has them (process.getgroups() adds the egid)
  const supplementary = (/^Groups:(.*)$/m.exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  const prm = capsOf(status, 'CapPrm');
  const bnd = capsOf(status, 'CapBnd');
  const mine = (ids: number[], want: number) => ids.every((x) => x === want);
  const groups = [...new Set(supplementary)].sort((a, b) => a - b).join(',');
  for (const t of meta.tasks) {
    const c = t.creds;
    const who = `process ${t.pid}`;
    const refuse = (what: string) =>
      new PermissionError(`${who}: ${what}; only root may restore it (the caller is uid ${self.euid})`, { pid: t.pid, phase: 'check' });
    if (!mine(c.uid, self.euid) || self.uid !== self.euid) throw refuse(`recorded uids ${c.uid.join('/')} are not the caller's`);
    if (!mine(c.gid, self.egid) || self.gid !== self.egid) throw refuse(`recorded gids ${c.gid.join('/')} are not the caller's`);
    if ([...new Set(c.groups)].sort((a, b) => a - b).join(',') !== groups) throw refuse(`recorded groups [${c.groups.join(',')}] are not the caller's [${groups}]`);
    if (c.caps) {
      for (const [set, v] of [['permitted', c.caps.permitted], ['effective', c.caps.effective], ['inheritable', c.caps.inheritable], ['ambient', c.caps.ambient]] as const) {
        const extra = BigInt('0x' + (v || '0')) & ~prm;
        if (extra) throw refuse(`its ${set} capabilities hold ${bits(extra)}, which the caller has not`);
      }
      const extraBnd = BigInt('0x' + (c.caps.bounding || '0')) & ~bnd;
      if (extraBnd) throw refuse(`its bounding set holds capabilities ${bits(extraBnd)}, which the caller's has not`);
    }
  }
  for (const o of [...meta.ipc.shm, ...meta.ipc.sem, ...meta.ipc.msg])
    if (o.uid !== self.euid || o.cuid !== self.euid || o.gid !== self.egid || o.cgid !== self.egid)
      throw new PermissionError(`System V object id ${o.id}: owned by uid ${o.uid} (created by ${o.cuid}), not the caller's; only root may restore it`, { object: `ipc ${o.id}`, phase: 'check' });
}
