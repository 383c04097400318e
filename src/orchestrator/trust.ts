/**
 * Who may restart what (the model is in docs/security.md). The credentials an image records can
 * be forged (a checksum is no signature), and so can its header (the `owner` it names is only
 * information), so trust comes from who could have written the image and who restarts it:
 *  - the image source (a file, a FIFO, any path given to -i) must not be writable by group or
 *    others, and its owner bounds what is restored: root's restart of an image that is not
 *    root's restores at most that owner's credentials (its uid, its groups from the user
 *    database, no capability); a caller that is not root accepts only an image that is root's
 *    or its own. `-i -` (or an fd passed to the library) is vouched for by the caller;
 *    --trust-image vouches for any source;
 *  - a caller that is not root (CAP_CHECKPOINT_RESTORE + CAP_SYS_PTRACE) restores only images
 *    whose recorded credentials are its own: every task's uids, gids and groups, capabilities
 *    within its own, System V objects and content objects (memfds, unlinked and tmpfs files,
 *    removed directories) owned by it.
 * Checked on the opened fd (no race with a renamed file), before anything is created. The
 * helper then does every file action for a task with that task's credentials (native/helper/
 * fscred.c), and gives files set-ID bits back only when the image is fully trusted.
 */
import fs from 'node:fs';
import { PermissionError } from '../errors.js';
import { objectName } from '../image/object-kinds.js';
import type { ImageMetadata } from '../image/types.js';
import { opsOf } from '../kernel/fds/registry.js';
import { ALARM_CLOCKS } from '../kernel/timers.js';
import { MADV } from '../kernel/memory.js';
import { native } from '../native/addon.js';

export interface ImageTrust {
  /** root restarts an image it vouches for (root's, `-i -`, --trust-image): every recorded
   * credential is restored, set-ID bits of recreated files included */
  full: boolean;
  /** the uid whose credentials bound the restore (the image file's owner), when not full */
  owner?: number;
}

const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');
const override = '--trust-image to restart it anyway';

/**
 * The image source's owner and mode (fd as opened; any kind of file). vouched: `-i -` or an fd
 * from the caller. Returns what the restore may give; throws when the source is not trusted.
 */
export function checkImageSource(fd: number, name: string, o: { vouched: boolean; trustImage: boolean }): ImageTrust {
  const euid = process.geteuid!();
  if (o.trustImage || o.vouched) return { full: euid === 0 };
  const st = fs.fstatSync(fd);
  const refuse = (why: string) => new PermissionError(`image ${name}: ${why}; refused (${override})`, { object: name, phase: 'check' });
  if (st.mode & 0o022) throw refuse(`writable by other users (mode ${octal(st.mode)})`);
  if (euid === 0) return st.uid === 0 ? { full: true } : { full: false, owner: st.uid };
  if (st.uid !== 0 && st.uid !== euid) throw refuse(`owned by uid ${st.uid}, neither root nor the caller (uid ${euid})`);
  return { full: false };
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

const CAP_SETS = ['permitted', 'effective', 'inheritable', 'ambient'] as const;
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
    // the helper suspends the task's seccomp while it restores it (native/helper/restore/restore_seccomp.c)
    if (t.seccomp && !(capsOf(status, 'CapEff') & (1n << 21n))) throw refuse('it runs under seccomp: restoring it needs CAP_SYS_ADMIN (PTRACE_O_SUSPEND_SECCOMP)');
    if (!mine(c.gid, self.egid) || self.gid !== self.egid) throw refuse(`recorded gids ${c.gid.join('/')} are not the caller's`);
    if ([...new Set(c.groups)].sort((a, b) => a - b).join(',') !== groups) throw refuse(`recorded groups [${c.groups.join(',')}] are not the caller's [${groups}]`);
    if (c.caps) {
      for (const set of CAP_SETS) {
        const extra = BigInt('0x' + (c.caps[set] || '0')) & ~prm;
        if (extra) throw refuse(`its ${set} capabilities hold ${bits(extra)}, which the caller has not`);
      }
      const extraBnd = BigInt('0x' + (c.caps.bounding || '0')) & ~bnd;
      if (extraBnd) throw refuse(`its bounding set holds capabilities ${bits(extraBnd)}, which the caller's has not`);
    }
  }
  for (const o of [...meta.ipc.shm, ...meta.ipc.sem, ...meta.ipc.msg])
    if (o.uid !== self.euid || o.cuid !== self.euid || o.gid !== self.egid || o.cgid !== self.egid)
      throw new PermissionError(`System V object id ${o.id}: owned by uid ${o.uid} (created by ${o.cuid}), not the caller's; only root may restore it`, { object: `ipc ${o.id}`, phase: 'check' });
  for (const o of meta.files.objects ?? [])
    if (o.owner && (o.owner[0] !== self.euid || o.owner[1] !== self.egid))
      throw new PermissionError(`${objectName(o)}: owned by ${o.owner[0]}:${o.owner[1]}, not the caller's; only root may restore it`, { object: o.name, phase: 'check' });
}

const RLIMIT_NAMES = ['RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS', 'RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS', 'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME'];

/** This process's hard limits, by resource number (/proc/self/limits lists them in that order). */
function ownHardLimits(): bigint[] {
  const INF = 2n ** 64n - 1n;
  return fs
    .readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => {
      const hard = l.slice(26).trim().split(/\s+/)[1] ?? 'unlimited';
      return hard === 'unlimited' ? INF : BigInt(hard);
    });
}

/**
 * Root restarts an image owned by uid owner: every recorded credential must be within that
 * owner's — uids the owner's, gids and supplementary groups among the groups the user database
 * gives it, no capability — as must System V objects and what only a capability gives: hard
 * resource limits above the restorer's own (CAP_SYS_RESOURCE), ports below
 * ip_unprivileged_port_start (CAP_NET_BIND_SERVICE), timers on alarm clocks (CAP_WAKE_ALARM).
 * One line names the process (or object) and the field.
 */
export function checkWithinOwner(meta: ImageMetadata, owner: number, name: string): void {
  const user = native().userOf(owner);
  const whose = `uid ${owner}${user ? ` (${user.name})` : ''} that owns image ${name}`;
  const refuse = (who: string, what: string, pid?: number) =>
    new PermissionError(`${who}: ${what}; refused (--trust-image to restore it anyway)`, { pid, object: name, phase: 'check' });
  if (!user) throw refuse(`image ${name}`, `its owner uid ${owner} has no entry in the user database, so its groups are unknown`);
  const groups = new Set([user.gid, ...user.groups]);
  const notMember = (ids: number[]) => [...new Set(ids.filter((g) => !groups.has(g)))];
  const limits = ownHardLimits();
  for (const t of meta.tasks) {
    const c = t.creds;
    const who = `process ${t.pid}`;
    if (c.uid.some((u) => u !== owner)) throw refuse(who, `recorded uids ${c.uid.join('/')} are beyond ${whose}`, t.pid);
    if (notMember(c.gid).length) throw refuse(who, `recorded gids ${c.gid.join('/')} are beyond ${whose} (not its group ${notMember(c.gid).join(',')})`, t.pid);
    if (notMember(c.groups).length) throw refuse(who, `recorded supplementary groups [${c.groups.join(',')}] hold ${notMember(c.groups).join(',')}, not a group of ${whose}`, t.pid);
    for (const set of CAP_SETS) {
      const held = BigInt('0x' + (c.caps?.[set] || '0'));
      if (held) throw refuse(who, `its ${set} capabilities hold ${bits(held)}, beyond ${whose} (which has none)`, t.pid);
    }
    for (const pt of t.posixTimers)
      if (ALARM_CLOCKS.has(pt.clock)) throw refuse(who, `its POSIX timer ${pt.id} is on an alarm clock (${pt.clock}), which needs CAP_WAKE_ALARM, beyond ${whose}`, t.pid);
    t.rlimits.forEach(([, max], r) => {
      if (limits[r] !== undefined && BigInt(max) > limits[r]!)
        throw refuse(who, `its hard limit ${RLIMIT_NAMES[r] ?? r} (${max}) is above the restorer's own (${limits[r]}), beyond ${whose}`, t.pid);
    });
    checkAttrsWithinOwner(t, owner, (what) => refuse(who, `${what}, beyond ${whose}`, t.pid));
  }
  for (const o of [...meta.ipc.shm, ...meta.ipc.sem, ...meta.ipc.msg])
    if (o.uid !== owner || o.cuid !== owner || !groups.has(o.gid) || !groups.has(o.cgid))
      throw refuse(`System V object id ${o.id}`, `owned by uid ${o.uid}/gid ${o.gid} (created by ${o.cuid}/${o.cgid}), beyond ${whose}`);
  // a content object's owner is given back by the helper (fchown): only the owner's own
  for (const o of meta.files.objects ?? [])
    if (o.owner && (o.owner[0] !== owner || !groups.has(o.owner[1])))
      throw refuse(objectName(o), `owned by ${o.owner[0]}:${o.owner[1]}, beyond ${whose}`);
  const firstFree = unprivilegedPortStart();
  for (const f of meta.files.files) {
    const needs = opsOf(f.kind).privilege?.(f, { firstFreePort: firstFree });
    if (needs) throw refuse(needs.who, `${needs.what}, beyond ${whose}`);
  }
}

const RLIMIT_MEMLOCK = 8;
const LOGINUID_UNSET = 0xffffffff;

/** What only privilege gives among a task's attributes, checked before anything is created (the
 * rest is set by the task itself with its own credentials and limits: native/helper/restore/
 * restore_attrs.c): memory locked beyond the hard RLIMIT_MEMLOCK (the helper locks it before
 * the credentials change; CAP_IPC_LOCK), a loginuid other than the owner's or none
 * (CAP_AUDIT_CONTROL), unless it is the restorer's own; a root directory of its own
 * (CAP_SYS_CHROOT: a user's process in a directory the user chose, with set-ID programs, is the
 * classic way to root); seccomp filters without no_new_privs (CAP_SYS_ADMIN). */
function checkAttrsWithinOwner(t: ImageMetadata['tasks'][number], owner: number, refuse: (what: string) => Error): void {
  let locked = 0n;
  for (const v of t.vmas) if (v.madv & (MADV.lo! | MADV.lf!)) locked += BigInt(v.end - v.start);
  const memlock = BigInt(t.rlimits[RLIMIT_MEMLOCK]?.[1] ?? 0);
  if (locked > memlock) throw refuse(`${locked} bytes of its memory are locked (mlock), more than its hard RLIMIT_MEMLOCK (${memlock}) lets a process lock without CAP_IPC_LOCK`);
  // the restorer's own loginuid is what the task inherits anyway (nothing is set then)
  if (t.attrs?.root !== undefined) throw refuse(`its root directory is ${t.attrs.root} (chroot needs CAP_SYS_CHROOT)`);
  // a filter under a set-user-ID program is what no_new_privs prevents (docs/seccomp.md)
  if (t.seccomp?.threads.some(([, mode]) => mode === 2) && !t.noNewPrivs) throw refuse('its seccomp filters are without no_new_privs (installing them so needs CAP_SYS_ADMIN)');
  const luid = t.attrs?.loginuid;
  if (luid !== undefined && luid !== owner && luid !== LOGINUID_UNSET && luid !== ownLoginuid())
    throw refuse(`its loginuid ${luid} is another user's (setting it needs CAP_AUDIT_CONTROL)`);
}

function ownLoginuid(): number {
  try {
    return Number(fs.readFileSync('/proc/self/loginuid', 'utf8').trim());
  } catch {
    return LOGINUID_UNSET;
  }
}

function unprivilegedPortStart(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  } catch {
    return 1024;
  }
}
