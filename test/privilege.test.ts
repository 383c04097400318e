/**
 * Root's restart never gives a user more than the user had (docs/security.md): an image that is
 * not root's restores at most its owner's credentials, however it was edited (a checksum is no
 * signature: the tests rewrite records as an attacker would); every file action for a task is
 * done with the task's credentials, so the kernel refuses what the user could not reach (a
 * root-only file, mapping, directory or socket path), and the failed restart leaves nothing;
 * set-ID bits come back only in root's own image; -i with a FIFO follows the file rules; the
 * files ucr writes (--trace, --log-file) never follow a planted symlink.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exists, exitOf, killAndWait, startCase, tmpdir, track, ucr, verdict, waitFor, type Case } from './harness.js';
import { editRecord, KIND, resealed } from './image-edit.js';
import { expectOneLine, forge, startAsNobody, ucrAsNobody, userImage } from './nobody.js';

afterEach(cleanup);

const NOBODY = 65534;

const restartAsRoot = (img: string, extra: string[] = []) => ucr(['restart', '-i', img, '--detach', ...extra]);
const status = (pid: number) => fs.readFileSync(`/proc/${pid}/status`, 'utf8');

/** A directory of root's that others may enter but not change. */
function rootDir(tag: string, mode = 0o755): string {
  const d = tmpdir(tag);
  fs.chmodSync(d, mode);
  return d;
}

/** A file of nobody's in a directory everyone may write. */
function userFile(dir: string, name: string, bytes: number): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, Buffer.alloc(bytes, 0x5a), { mode: 0o600 });
  fs.chownSync(p, NOBODY, NOBODY);
  return p;
}

describe("root restarting a user's image restores that user at most", () => {
  it('refuses the image forged to uid 0 (header owner too), gid 0, group 0, capabilities, raised limits or an alarm timer; restores the untouched one as the user; --trust-image restores the forged one', async () => {
    const { c, img, good } = await userImage('counter');
    const beyond = '(?:are|hold|is).*beyond uid 65534 \\(nobody\\) that owns image .*; refused \\(--trust-image';
    const cases: [string, number, (r: Record<string, any>) => void, RegExp][] = [
      ['uid', KIND.TASK, (t) => (t.creds.uid = [0, 0, 0, 0]), new RegExp(`^ucr: process ${c.pid}: recorded uids 0/0/0/0 ${beyond}`)],
      ['gid', KIND.TASK, (t) => (t.creds.gid = [0, 0, 0, 0]), /recorded gids 0\/0\/0\/0 are beyond uid 65534 \(nobody\) .*\(not its group 0\)/],
      ['groups', KIND.TASK, (t) => (t.creds.groups = [0, NOBODY]), /recorded supplementary groups \[0,65534\] hold 0, not a group of uid 65534/],
      ['caps', KIND.TASK, (t) => (t.creds.caps.permitted = t.creds.caps.effective = '000001ffffffffff'), /its permitted capabilities hold 0,1,2,.*,40, beyond uid 65534/],
      ['ambient', KIND.TASK, (t) => (t.creds.caps.ambient = '0000000000200000'), /its ambient capabilities hold 21, beyond/],
      ['rlimit', KIND.TASK, (t) => (t.rlimits[7] = [1024, 2 ** 40]), /its hard limit RLIMIT_NOFILE \(1099511627776\) is above the restorer's own/],
      [
        'alarm',
        KIND.TASK,
        (t) => t.posixTimers.push({ id: 0, clock: 9, notify: 'none', signo: 0, sigval: 0, tid: c.pid, interval: [0, 0], value: [0, 0] }),
        /its POSIX timer 0 is on an alarm clock \(9\), which needs CAP_WAKE_ALARM, beyond uid 65534/,
      ],
    ];
    for (const [name, kind, edit, re] of cases) {
      expectOneLine(restartAsRoot(forge(c, good, `${name}.ucr`, kind, edit)), re);
      expect(exists(c.pid), name).toBe(false);
    }
    // the header's owner is written by the image's author too: it changes nothing
    const both = forge(c, editRecord(good, KIND.HEADER, (h) => (h.owner = { uid: 0, gid: 0 })), 'header.ucr', KIND.TASK, (t) => (t.creds.uid = [0, 0, 0, 0]));
    expectOneLine(restartAsRoot(both), /recorded uids 0\/0\/0\/0 are beyond uid 65534/);
    expect(exists(c.pid)).toBe(false);

    // the image as nobody made it: restored as nobody, no capability, no group
    let r = restartAsRoot(img);
    expect(r.code, r.stderr).toBe(0);
    expect(status(c.pid)).toMatch(/Uid:\s+65534\s+65534\s+65534\s+65534\n/);
    expect(status(c.pid)).toMatch(/Gid:\s+65534\s+65534\s+65534\s+65534\n/);
    expect(status(c.pid)).toMatch(/Groups:\s*\n/);
    expect(status(c.pid)).toMatch(/CapPrm:\s+0+\n/);
    expect(status(c.pid)).toMatch(/CapEff:\s+0+\n/);
    expect(await verdict(c)).toBe('PASS');
    await waitFor(() => !exists(c.pid), 10_000, 'the pid to be free');

    // root vouches for the forged image: it is restored as recorded
    r = restartAsRoot(path.join(c.dir, 'uid.ucr'), ['--trust-image']);
    expect(r.code, r.stderr).toBe(0);
    expect(status(c.pid)).toMatch(/Uid:\s+0\s+0\s+0\s+0\n/);
    expect(await verdict(c)).toBe('PASS');
  });

  it("an honest user image gets no fd, mapping or socket path the user's credentials cannot reach now; given back, it restores", async () => {
    const data = tmpdir('userdata');
    fs.chmodSync(data, 0o777);
    const file = userFile(data, 'f', 64);
    const map = userFile(data, 'm', 4096);
    const sock = path.join(data, 's');
    const { c, img } = await userImage('userfiles', ['--file', file, '--map', map, '--sock', sock]);
    const refused = (re: RegExp) => {
      expectOneLine(restartAsRoot(img), re);
      expect(exists(c.pid)).toBe(false);
    };
    // the directory of the socket is root's: its stale socket file may not be replaced (first:
    // a restart that fails later removes the socket file it bound in place of a stale one)
    const sockIno = fs.lstatSync(sock).ino;
    fs.chmodSync(data, 0o755);
    refused(new RegExp(`cannot bind the unix socket to ${sock} as uid 65534 \\(process ${c.pid}\\): permission denied \\(EACCES\\)`));
    expect(fs.lstatSync(sock).ino).toBe(sockIno);
    fs.chmodSync(data, 0o777);
    // root takes the file (0600, root's): nobody may not open it O_RDWR
    fs.chownSync(file, 0, 0);
    refused(new RegExp(`^ucr: process ${c.pid}: files: ${file}: cannot open the file as uid 65534 \\(process ${c.pid}\\): permission denied \\(EACCES\\)`));
    fs.chownSync(file, NOBODY, NOBODY);
    // ... the mapped file
    fs.chownSync(map, 0, 0);
    refused(new RegExp(`files: ${map}: cannot open the mapped file as uid 65534 \\(process ${c.pid}\\): permission denied \\(EACCES\\)`));
    fs.chownSync(map, NOBODY, NOBODY);
    // everything the user's again: restored, as the user
    const r = restartAsRoot(img);
    expect(r.code, r.stderr).toBe(0);
    expect(status(c.pid)).toMatch(/Uid:\s+65534\s+65534\s+65534\s+65534\n/);
    expect(await verdict(c)).toBe('PASS');
  });

  it("a user image edited to reach root's files, directory or stale daemon socket is refused by the kernel's own checks; nothing is created or removed", async () => {
    const root = rootDir('rootonly');
    const secret = path.join(root, 'secret');
    fs.writeFileSync(secret, Buffer.alloc(4096, 0x21), { mode: 0o600 });
    const closed = rootDir('closed', 0o700);
    // a root daemon's socket left behind when it died, in root's directory
    const daemonSock = path.join(root, 'daemon.sock');
    const daemon = await startCase('userfiles', { args: ['--sock', daemonSock] });
    process.kill(daemon.pid, 'SIGKILL');
    await killAndWait(daemon.pid);
    fs.chmodSync(daemonSock, 0o777); // even connectable by anyone (so it is known to be stale)
    const daemonIno = fs.lstatSync(daemonSock).ino;

    const data = tmpdir('userdata');
    fs.chmodSync(data, 0o777);
    const file = userFile(data, 'f', 4096);
    const map = userFile(data, 'm', 4096);
    const { c, good } = await userImage('userfiles', ['--file', file, '--map', map, '--sock', path.join(data, 's'), '--setuid']);
    const st = fs.statSync(secret);
    const files = (f: (x: Record<string, any>) => void) => (r: Record<string, any>) => f(r);
    const cases: [string, number, (r: Record<string, any>) => void, RegExp][] = [
      ['file', KIND.FILES, files((r) => {
          // the attacker forges the identity (size, device, inode) too, so only the kernel's check is left
          const f = r.files.find((x: any) => x.path === file);
          f.path = secret;
          f.params = [st.size, st.dev, st.ino];
        }), new RegExp(`files: ${secret}: cannot open the file as uid 65534 .*: permission denied \\(EACCES\\)`)],
      [
        'mapping',
        KIND.TASK,
        (t) => {
          const v = t.vmas.find((x: any) => x.path === map);
          v.path = secret;
          v.file = { ...v.file, size: st.size, mtimeMs: Math.trunc(st.mtimeMs), ino: st.ino, dev: st.dev };
        },
        new RegExp(`files: ${secret}: cannot open the mapped file as uid 65534 .*: permission denied \\(EACCES\\)`),
      ],
      ['cwd', KIND.TASK, (t) => (t.cwd = closed), new RegExp(`files: ${closed}: cannot open the working directory as uid 65534 .*: permission denied \\(EACCES\\)`)],
      [
        'socket',
        KIND.FILES,
        files((r) => (r.files.find((x: any) => x.kind === 'unix').unix.name = Buffer.from(daemonSock + '\0'))),
        new RegExp(`cannot bind the unix socket to ${daemonSock} as uid 65534 .*: permission denied \\(EACCES\\)`),
      ],
      [
        'unlinked',
        KIND.FILES,
        files((r) => (r.objects.find((o: any) => o.kind === 'unlinked').name = path.join(root, 'planted'))),
        new RegExp(`files: ${root}/planted: cannot create the unlinked file again as uid 65534 .*: permission denied \\(EACCES\\)`),
      ],
    ];
    for (const [name, kind, edit, re] of cases) {
      expectOneLine(restartAsRoot(forge(c, good, `${name}.ucr`, kind, edit)), re);
      expect(exists(c.pid), name).toBe(false);
    }
    expect(fs.readdirSync(root).sort()).toEqual(['daemon.sock', 'secret']);
    expect(fs.lstatSync(daemonSock).ino).toBe(daemonIno);
    expect(fs.readFileSync(secret)).toEqual(Buffer.alloc(4096, 0x21));
  });

  it("an unlinked set-ID file comes back owned by the user without its set-ID bits; in root's own image it keeps them", async () => {
    const fd42 = (pid: number) => fs.statSync(`/proc/${pid}/fd/42`);
    const n = await startAsNobody('userfiles', ['--setuid']);
    expect(fd42(n.pid).mode & 0o7777).toBe(0o6755);
    expect(fd42(n.pid).uid).toBe(NOBODY);
    const img = path.join(n.dir, 'img.ucr');
    expect(ucrAsNobody(['checkpoint', String(n.pid), '-o', img, '--kill']).code).toBe(0);
    await waitFor(() => !exists(n.pid), 10_000, 'the pid to be free');
    // its owner edited to root's, or to a group of root's: the helper would chown it (refused)
    const good = fs.readFileSync(img);
    for (const owner of [
      [0, 0],
      [NOBODY, 0],
    ]) {
      const forged = forge(n, good, `owner-${owner.join('-')}.ucr`, KIND.FILES, (r) => (r.objects.find((o: any) => o.kind === 'unlinked').owner = owner));
      expectOneLine(restartAsRoot(forged), new RegExp(`^ucr: unlinked file .*: owned by ${owner.join(':')}, beyond uid 65534 \\(nobody\\) that owns image .*; refused`));
      expect(exists(n.pid)).toBe(false);
    }
    const r = restartAsRoot(img);
    expect(r.code, r.stderr).toBe(0);
    expect(fd42(n.pid).mode & 0o7777).toBe(0o755);
    expect(fd42(n.pid).uid).toBe(NOBODY);
    expect(await verdict(n)).toBe('PASS');

    const c = await startCase('userfiles', { args: ['--setuid'] });
    checkpointCase(c, path.join(c.dir, 'img.ucr'), ['--kill']);
    await killAndWait(c.pid);
    expect(restartAsRoot(path.join(c.dir, 'img.ucr')).code).toBe(0);
    expect(fd42(c.pid).mode & 0o7777).toBe(0o6755);
    expect(fd42(c.pid).uid).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('-i with a FIFO', () => {
  it("follows the rules of an image file: another user's FIFO bounds the restore to that user, a group-writable one is refused, root's own restores", async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    const viaFifo = async (name: string, uid: number, mode: number) => {
      const p = path.join(c.dir, name);
      expect(spawnSync('mkfifo', ['-m', '600', p]).status).toBe(0);
      fs.chownSync(p, uid, uid);
      fs.chmodSync(p, mode);
      const writer = track(spawn('sh', ['-c', `cat "$0" > "$1" 2>/dev/null`, img, p], { stdio: 'ignore' }));
      const r = restartAsRoot(p);
      writer.kill('SIGKILL');
      await exitOf(writer);
      return r;
    };
    expectOneLine(await viaFifo('nobodys', NOBODY, 0o600), new RegExp(`^ucr: process ${c.pid}: recorded uids 0/0/0/0 are beyond uid 65534 \\(nobody\\) that owns image .*nobodys; refused`));
    expectOneLine(await viaFifo('shared', 0, 0o620), /^ucr: image .*shared: writable by other users \(mode 0620\); refused \(--trust-image/);
    expect(exists(c.pid)).toBe(false);
    const r = await viaFifo('roots', 0, 0o600);
    expect(r.code, r.stderr).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('files ucr writes', () => {
  it('--trace and --log-file replace a symlink planted in a shared directory, never follow it', async () => {
    const shared = tmpdir('shared');
    fs.chmodSync(shared, 0o1777);
    const victim = path.join(tmpdir('victim'), 'precious');
    fs.writeFileSync(victim, 'precious\n', { mode: 0o644 });
    const trace = path.join(shared, 'trace.json');
    const log = path.join(shared, 'log.json');
    for (const l of [trace, log]) {
      fs.symlinkSync(victim, l);
      fs.lchownSync(l, NOBODY, NOBODY);
    }
    const c = await startCase('counter');
    const r = ucr(['--log-file', log, 'checkpoint', String(c.pid), '-o', path.join(c.dir, 'img.ucr'), '--trace', trace]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    for (const f of [trace, log]) {
      const st = fs.lstatSync(f);
      expect(st.isFile(), f).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.uid).toBe(0);
    }
    expect(JSON.parse(fs.readFileSync(trace, 'utf8')).traceEvents.length).toBeGreaterThan(2);
    expect(fs.readFileSync(log, 'utf8')).toMatch(/"module":"checkpoint"/);
    expect(fs.readdirSync(shared).sort()).toEqual(['log.json', 'trace.json']);
    expect(await verdict(c)).toBe('PASS');
  });
});
