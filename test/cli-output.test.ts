/**
 * What a successful command says (issue 19): nothing unless -v, one summary line on stderr when
 * stderr is a terminal (a pty here), --json unchanged; -o onto an existing image replaced
 * atomically (said with -v) or refused with --no-clobber; inspect on one screen by default,
 * everything with --all or --task, numbers by name; shell completion; `ucr help <command>`.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, killAndWait, sleep, startCase, tmpdir, trackPid, UCR, ucr, verdict, waitBlockedIn, type Case } from './harness.js';

afterEach(cleanup);

/** ucr with stdin, stdout and stderr on a pseudo-terminal (script(1)); returns what it printed. */
function onTerminal(args: string[]): { code: number | null; out: string } {
  const cmd = [process.execPath, UCR, ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout.replace(/\r\n/g, '\n') };
}

const SUMMARY = /^checkpointed 1 process, 1 thread, \d+(\.\d)? [KMG]iB in \d+\.\d\d s -> /m;

describe('a successful command', () => {
  it('says nothing off a terminal, one summary line on a terminal or with -v; --json stays the machine form', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    const quiet = ucr(['checkpoint', String(c.pid), '-o', img]);
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });

    const tty = onTerminal(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'tty.ucr')]);
    expect(tty.code).toBe(0);
    expect(tty.out.trim().split('\n')).toHaveLength(1);
    expect(tty.out).toMatch(new RegExp(`${SUMMARY.source}${c.dir}/tty\\.ucr \\(0600\\)\\n$`));

    const verbose = ucr(['-v', 'checkpoint', String(c.pid), '-o', path.join(c.dir, 'v.ucr')]);
    expect(verbose.code).toBe(0);
    expect(verbose.stderr).toMatch(/^ucr: freeze \[\d+\] [\d.]+ ms$/m);
    expect(verbose.stderr.trim().split('\n').pop()).toMatch(SUMMARY);

    const json = ucr(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'j.ucr'), '--json']);
    expect(json.stderr).toBe('');
    const j = JSON.parse(json.stdout);
    expect(j).toMatchObject({ pid: c.pid, tasks: 1, threads: 1, killed: false, replaced: false });
    expect(j.pageBytes).toBeGreaterThan(0);

    await killAndWait(c.pid);
    const back = onTerminal(['restart', '-i', img, '--detach']);
    trackPid(c.pid);
    expect(back.code).toBe(0);
    expect(back.out).toMatch(/^restarted 1 process at their pids in \d+\.\d\d s\n$/);
    expect(await verdict(c)).toBe('PASS');
  });

  it('-o onto an existing image replaces it atomically and says so with -v; --no-clobber refuses and leaves it', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img);
    const first = fs.readFileSync(img);
    const inode = fs.statSync(img).ino;
    const again = ucr(['-v', 'checkpoint', String(c.pid), '-o', img]);
    expect(again.code).toBe(0);
    expect(again.stderr.trim().split('\n').pop()).toMatch(new RegExp(`-> ${img} \\(0600, replaced the existing file\\)$`));
    expect(fs.statSync(img).ino).not.toBe(inode); // a new file renamed over it, never rewritten in place
    expect(fs.statSync(img).mode & 0o777).toBe(0o600);
    const second = fs.readFileSync(img);
    const refused = ucr(['checkpoint', String(c.pid), '-o', img, '--no-clobber']);
    expect(refused).toMatchObject({ code: 1, stderr: `ucr: output ${img}: already exists; refused (--no-clobber)\n` });
    expect(fs.readFileSync(img).equals(second)).toBe(true);
    expect(first.equals(second)).toBe(false);
    expect(fs.readdirSync(c.dir).filter((f) => f.includes('partial'))).toEqual([]);
    // a new name is fine with --no-clobber, and -v does not claim a replacement
    const fresh = ucr(['-v', 'checkpoint', String(c.pid), '-o', path.join(c.dir, 'new.ucr'), '--no-clobber']);
    expect(fresh.code).toBe(0);
    expect(fresh.stderr.trim().split('\n').pop()).toMatch(/new\.ucr \(0600\)$/);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('-o naming a pipe or a device', () => {
  /** How many names in dir hold "partial" (a partial image left behind). */
  const partials = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes('partial'));

  /** A named pipe in dir and a reader copying what comes through it to the file `got`; done
   * resolves to the reader's exit status once the writer closed it. */
  function fifoReader(dir: string, got: string) {
    const fifo = path.join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', fifo, got], { stdio: 'ignore' });
    return { fifo, done: new Promise<number | null>((r) => reader.on('exit', r)) };
  }

  /** The case's process killed, then brought back from the image img, whole. */
  async function restartsFrom(c: Case, img: string) {
    await killAndWait(c.pid);
    expect(ucr(['inspect', img]).code).toBe(0);
    const back = ucr(['restart', '-i', img, '--detach']);
    trackPid(c.pid);
    expect(back.code, back.stderr).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  }

  it('a character device (as /dev/null) is written into and stays the device; --no-clobber does not refuse it', async () => {
    const c = await startCase('counter');
    const nul = path.join(c.dir, 'null');
    expect(spawnSync('mknod', [nul, 'c', '1', '3']).status).toBe(0);
    const link = path.join(c.dir, 'null-link'); // through a symlink, as /dev/stdout is one
    fs.symlinkSync(nul, link);
    for (const out of [nul, link]) {
      const r = ucr(['-v', 'checkpoint', String(c.pid), '-o', out, '--no-clobber']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.trim().split('\n').pop()).toMatch(new RegExp(`-> ${out}$`)); // no "(0600)": no file was made
      expect(fs.statSync(nul).isCharacterDevice()).toBe(true);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(partials(c.dir)).toEqual([]);
    }
    expect(await verdict(c)).toBe('PASS');
  });

  it('a named pipe gets the whole image as a stream (--kill once its reader has it all), which restarts', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    const { fifo, done } = fifoReader(c.dir, img);
    const r = ucr(['checkpoint', String(c.pid), '-o', fifo, '--kill', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pid: c.pid, killed: true });
    expect(await done).toBe(0);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    expect(partials(c.dir)).toEqual([]);
    await restartsFrom(c, img);
  });

  it('stdout named by a path (as /dev/stdout) carries the image alone: no --json text mixed into it', async () => {
    const c = await startCase('counter');
    const link = path.join(c.dir, 'stdout-link');
    fs.symlinkSync('/proc/self/fd/1', link);
    const img = path.join(c.dir, 'img.ucr');
    const out = fs.openSync(img, 'w', 0o600);
    const r = spawnSync(process.execPath, [UCR, 'checkpoint', String(c.pid), '-o', link, '--json', '--kill'], { stdio: ['ignore', out, 'pipe'], encoding: 'utf8' });
    fs.closeSync(out);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    await restartsFrom(c, img); // the image and nothing after it
  });

  it('--trace and --log-file into a device, stdout through a link, or a named pipe: written into, never replaced', async () => {
    const c = await startCase('counter');
    const nul = path.join(c.dir, 'null');
    expect(spawnSync('mknod', [nul, 'c', '1', '3']).status).toBe(0);
    const link = path.join(c.dir, 'stdout-link');
    fs.symlinkSync('/proc/self/fd/1', link);
    const got = path.join(c.dir, 'from-fifo');
    const { fifo, done } = fifoReader(c.dir, got);
    // the trace on stdout through the link (its text alone there), the log into the device
    const r = ucr(['--log-file', nul, 'checkpoint', String(c.pid), '-o', path.join(c.dir, 'a.ucr'), '--trace', link]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).traceEvents.length).toBeGreaterThan(0);
    // the log into the FIFO, read whole by its reader
    const l = ucr(['--log-file', fifo, 'checkpoint', String(c.pid), '-o', path.join(c.dir, 'b.ucr')]);
    expect(l.code, l.stderr).toBe(0);
    expect(await done).toBe(0);
    const lines = fs.readFileSync(got, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('tool', 'ucr');
    expect(fs.statSync(nul).isCharacterDevice()).toBe(true);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    expect(partials(c.dir)).toEqual([]);
    expect(await verdict(c)).toBe('PASS');
  });

  it("an image is not written to a terminal ('-' or /dev/stdout on one): refused in one line, the tree runs on", async () => {
    const c = await startCase('counter');
    const link = path.join(c.dir, 'stdout-link');
    fs.symlinkSync('/proc/self/fd/1', link);
    for (const [out, name] of [
      ['-', 'stdout'],
      [link, link],
    ]) {
      const r = onTerminal(['checkpoint', String(c.pid), '-o', out!]);
      expect(r.code).toBe(1);
      expect(r.out).toBe(`ucr: output ${name}: is a terminal: refused (an image is binary: redirect it to a file or a pipe)\n`);
    }
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(partials(c.dir)).toEqual([]);
    // nor read from one: restart and inspect of '-' on a terminal say so rather than wait for typing
    for (const args of [
      ['restart', '-i', '-'],
      ['inspect', '-'],
    ]) {
      const r = onTerminal(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.out).toBe('ucr: image stdin: is a terminal: refused (an image is read from a file or a pipe)\n');
    }
    expect(await verdict(c)).toBe('PASS');
  });

  it('a socket or a block device is refused in one line; the tree runs on, nothing is left', async () => {
    const c = await startCase('counter');
    const blk = path.join(c.dir, 'blk');
    expect(spawnSync('mknod', [blk, 'b', '7', '250']).status).toBe(0);
    const sock = path.join(c.dir, 'sock');
    const server = net.createServer().listen(sock);
    await new Promise((r) => server.on('listening', r));
    try {
      const b = ucr(['checkpoint', String(c.pid), '-o', blk]);
      expect(b).toMatchObject({ code: 1, stderr: `ucr: output ${blk}: is a block device: refused\n` });
      const s = ucr(['checkpoint', String(c.pid), '-o', sock]);
      expect(s).toMatchObject({ code: 1, stderr: `ucr: output ${sock}: is a socket: refused (give its connection as '-' or an open fd)\n` });
    } finally {
      server.close();
    }
    expect(fs.statSync(blk).isBlockDevice()).toBe(true);
    expect(partials(c.dir)).toEqual([]);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('inspect', () => {
  it('fits one screen by default (at most 25 lines for one process); --all and --task show everything, numbers by name', async () => {
    const c = await startCase('sleeper');
    await waitBlockedIn(c.pid, 230); // clock_nanosleep
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img);
    const sum = ucr(['inspect', img]);
    expect(sum.code).toBe(0);
    const lines = sum.stdout.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(25);
    expect(sum.stdout).toMatch(new RegExp(`^  ${c.pid} sleeper \\[running\\] sid \\d+ pgid \\d+  [\\d.]+ MiB / [\\d.]+ MiB, 3 fds$`, 'm'));
    expect(sum.stdout).toMatch(new RegExp(`^fds by kind:\\n  ${c.pid}: device 1, regular 2 \\(${c.dir}/stdout, ${c.dir}/stderr\\)$`, 'm'));
    expect(sum.stdout).toMatch(/^sockets: none$/m);
    expect(sum.stdout).toMatch(/^leaked objects \(also held outside the tree\): none$/m);
    // the original still runs: a restart here would be refused, and inspect says so
    expect(sum.stdout).toMatch(new RegExp(`^  restart would refuse: pid ${c.pid} \\(sleeper\\) is in use \\(restart with --pids auto or --pidns\\)$`, 'm'));
    for (const section of ['tree', 'fds by kind', 'sockets', 'shared objects', 'warnings']) expect(sum.stdout).toMatch(new RegExp(`^${section}[: ]`, 'm'));

    const all = ucr(['inspect', img, '--all']);
    expect(all.code).toBe(0);
    expect(all.stdout.split('\n').length).toBeGreaterThan(lines.length + 10);
    expect(all.stdout).toMatch(/^ +\d+ #\d+ +regular .*\/stdout O_WRONLY(\|O_[A-Z]+)* pos \d+$/m);
    expect(all.stdout).toMatch(/ PROT_READ\|PROT_EXEC +MAP_PRIVATE +file .*\/sleeper$/m);
    expect(all.stdout).toMatch(/ PROT_READ\|PROT_WRITE +MAP_PRIVATE +stack pages/m);
    expect(all.stdout).toMatch(/ in clock_nanosleep +rax -516 \(ERESTART_RESTARTBLOCK\) /);
    expect(all.stdout).toMatch(/signals: blocked none, handlers for SIGTERM, 0 pending/);
    expect(all.stdout).not.toMatch(/flags 0\d|orig_rax/);

    const one = ucr(['inspect', img, '--task', String(c.pid)]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`  ${c.pid}: exe `);
    const none = ucr(['inspect', img, '--task', '1']);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(`ucr: inspect: --task 1: no live task 1 in the image (its tasks: ${c.pid})\nsee 'ucr inspect --help'\n`);
    expect(await verdict(c)).toBe('PASS');
  });

  it('names open flags: access mode and O_APPEND', async () => {
    const c = await startCase('files', { args: ['--dir', tmpdir('files-dir')] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img);
    const all = ucr(['inspect', img, '--all']).stdout;
    expect(all).toMatch(/ regular \S+\/a\.txt O_RDWR(\|O_LARGEFILE)? pos 37/);
    expect(all).toMatch(/ regular \S+\/log\.txt O_WRONLY\|O_APPEND(\|O_LARGEFILE)? pos 10/);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('shell completion and help', () => {
  it('bash completes commands, options, their choices and files; zsh gets a script for every command', () => {
    const bash = ucr(['completion', 'bash']);
    expect(bash.code).toBe(0);
    const complete = (line: string) => {
      const words = line.split(' ');
      const script = `${bash.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _ucr; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(r.stderr, line).toBe('');
      return r.stdout.trim().split('\n').filter(Boolean).sort();
    };
    expect(complete('ucr ')).toEqual(expect.arrayContaining(['checkpoint', 'completion', 'help', 'inspect', 'restart', 'version']));
    expect(complete('ucr ch')).toEqual(['checkpoint']);
    expect(complete('ucr checkpoint --t')).toEqual(['--tcp', '--trace']);
    expect(complete('ucr checkpoint --tcp ')).toEqual(['close', 'established']);
    expect(complete('ucr restart --timers ')).toEqual(['absolute', 'relative']);
    expect(complete('ucr restart --no')).toEqual(['--notify-signal']);
    expect(complete('ucr checkpoint --no')).toEqual(['--no-clobber', '--notify-signal']);
    expect(complete('ucr completion ')).toEqual(['bash', 'zsh']);
    expect(complete('ucr help re')).toEqual(['restart']);
    expect(complete(`ucr checkpoint ${process.pid}`)).toContain(String(process.pid));
    expect(complete(`ucr inspect ${path.join(path.dirname(UCR), 'uc')}`)).toEqual([UCR]);

    const zsh = ucr(['completion', 'zsh']);
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef ucr\n/);
    for (const c of ['checkpoint', 'restart', 'inspect', 'help', 'completion', 'version']) expect(zsh.stdout).toMatch(new RegExp(`^      ${c}\\) _arguments`, 'm'));
    expect(zsh.stdout).toContain("'--tcp[a TCP connection whose peer is outside the tree\\: close]:policy:(close established)'");
    expect(zsh.stdout).toContain("'--skip-memory[restore this address range zero-filled]:\\[pid\\:\\]start-end: '");
    // every quote opened is closed: the script is balanced for the shell
    for (const line of zsh.stdout.split('\n')) expect(line.replace(/'\\''/g, '').split("'").length % 2, line).toBe(1);
  });

  it('ucr help <command> is a manual with examples, for every command', () => {
    for (const c of ['checkpoint', 'restart', 'inspect', 'help', 'completion', 'version']) {
      const r = ucr(['help', c]);
      expect(r.code, c).toBe(0);
      for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES', 'EXIT STATUS']) expect(r.stdout, `${c} ${section}`).toMatch(new RegExp(`^${section}\\n    \\S`, 'm'));
      expect(r.stdout, c).toMatch(c === 'completion' ? /^EXAMPLES\n {4}eval "\$\(ucr completion bash\)"/m : new RegExp(`^EXAMPLES\\n {4}ucr ${c}( |$)`, 'm'));
      expect(ucr([c, '--help']).stdout, c).toMatch(/\nExamples:\n {2}\S/);
    }
    expect(ucr(['help', 'checkpoint']).stdout).toMatch(/^ {4}--no-clobber\n {8}refuse to replace an existing output file/m);
    expect(ucr(['help']).stdout).toMatch(/^Usage: ucr \[options\] \[command\]/);
  });
});

describe("ucr's stdout and stderr", () => {
  it('are left with the file flags they had (no O_NONBLOCK on a pipe shared with the caller and the restored tree)', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    // stdout and stderr: the write end of a FIFO, one open file this test holds too
    const fifo = path.join(c.dir, 'out.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const rd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wr = fs.openSync(fifo, 'w');
    const flags = () => parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${wr}`, 'latin1'))![1]!, 8);
    const drain = () => {
      const b = Buffer.alloc(1 << 16);
      let text = '';
      for (;;) {
        try {
          const n = fs.readSync(rd, b);
          if (n <= 0) break;
          text += b.toString('utf8', 0, n);
        } catch {
          break; // EAGAIN: all read
        }
      }
      return text;
    };
    try {
      const before = flags();
      expect(before & fs.constants.O_NONBLOCK).toBe(0);
      // -v and --json: both written to; the command ends through exitNow (no Node teardown that
      // would put the flags back)
      const ck = ucr(['-v', 'checkpoint', String(c.pid), '-o', img, '--kill', '--json'], { stdio: ['ignore', wr, wr] });
      expect(ck.code).toBe(0);
      expect(drain()).toMatch(/^ucr: freeze \[\d+\][\s\S]*"killed":true/m);
      expect(flags()).toBe(before);
      await killAndWait(c.pid);
      const rs = ucr(['-v', 'restart', '-i', img, '--detach', '--json'], { stdio: ['ignore', wr, wr] });
      trackPid(c.pid);
      expect(rs.code).toBe(0);
      expect(drain()).toMatch(/^ucr: resume [\d.]+ ms$[\s\S]*"root":/m);
      expect(flags()).toBe(before);
      expect(await verdict(c)).toBe('PASS');
    } finally {
      fs.closeSync(wr);
      fs.closeSync(rd);
    }
  });

  it('a non-blocking stdout whose reader is slow still gets the whole output, in order', async () => {
    const c = await startCase('tree');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img);
    const expected = ucr(['inspect', img, '--json']).stdout;
    // more than a pipe holds: the writes meet a full pipe (EAGAIN on the non-blocking fd)
    expect(expected.length).toBeGreaterThan(1 << 16);
    const fifo = path.join(c.dir, 'slow.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const rd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wr = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    const chunks: Buffer[] = [];
    try {
      const p = spawn(process.execPath, [UCR, 'inspect', img, '--json'], { stdio: ['ignore', wr, 'pipe'] });
      let stderr = '';
      p.stderr!.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
      fs.closeSync(wr);
      // a slow reader: 4 KiB every few milliseconds, until the writer is gone and all is read
      const b = Buffer.alloc(4096);
      for (let done = false; !done; ) {
        try {
          const n = fs.readSync(rd, b);
          if (n === 0) done = true;
          else chunks.push(Buffer.from(b.subarray(0, n)));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        }
        await sleep(2);
      }
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
      expect(Buffer.concat(chunks).toString('utf8')).toBe(expected);
    } finally {
      fs.closeSync(rd);
    }
  });
});
