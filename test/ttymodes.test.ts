/**
 * A shell job restarted onto a terminal gets the modes it had there (raw mode, window size),
 * and the caller gets its own back when the job stops (Ctrl-Z) or ends. Every terminal is a
 * pty the test makes, with a small job-control shell in Python as its session leader.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CASES, UCR, cleanup, exists, exitOf, tmpdir, track, trackPid, ucr, verdict, waitFor, waitRestored } from './harness.js';

afterEach(cleanup);

/**
 * A pty whose session leader is a tiny job-control shell: it runs argv as a foreground job
 * (a group of its own), and when the job stops, takes the terminal, writes the terminal's
 * lflag and size to REPORT ("stopped LFLAG ROWS COLS"), and continues the job in the
 * foreground (like `fg`); when the job ends, "ended LFLAG ROWS COLS CODE". The terminal starts
 * cooked at 24x80. The pty's master side writes Ctrl-Z once the file ZFILE appears.
 */
const SHELL = `
import os, sys, signal, select, termios, fcntl, struct
report, zfile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
def modes():
    lflag = termios.tcgetattr(0)[3]
    rows, cols, _, _ = struct.unpack('HHHH', fcntl.ioctl(0, termios.TIOCGWINSZ, b'\\0' * 8))
    return '%d %d %d' % (lflag, rows, cols)
pid, fd = os.forkpty()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    j = os.fork()
    if j == 0:
        os.setpgid(0, 0)
        os.tcsetpgrp(0, os.getpgrp())
        signal.signal(signal.SIGTTOU, signal.SIG_DFL)
        os.execv(argv[0], argv)
    try:
        os.setpgid(j, j)
    except OSError:
        pass
    out = open(report, 'w')
    while True:
        _, st = os.waitpid(j, os.WUNTRACED)
        if os.WIFSTOPPED(st):
            os.tcsetpgrp(0, os.getpgrp())
            out.write('stopped %s\\n' % modes()); out.flush()
            os.tcsetpgrp(0, j)
            os.killpg(j, signal.SIGCONT)
            continue
        break
    out.write('ended %s %d\\n' % (modes(), os.waitstatus_to_exitcode(st))); out.flush()
    os._exit(0)
sent = False
while True:
    r, _, _ = select.select([fd], [], [], 0.05)
    if not sent and os.path.exists(zfile):
        os.write(fd, b'\\x1a')
        sent = True
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
os.waitpid(pid, 0)
`;

function shell(dir: string, argv: string[]) {
  const report = path.join(dir, `report-${Math.random().toString(36).slice(2)}`);
  const zfile = `${report}.z`;
  const p = track(spawn('python3', ['-c', SHELL, report, zfile, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] }));
  return { p, done: exitOf(p), report, zfile, lines: () => (fs.existsSync(report) ? fs.readFileSync(report, 'utf8').trim().split('\n').filter(Boolean) : []) };
}

const ICANON = 0o2;
const ECHO = 0o10;

describe('terminal modes of a job restarted onto a terminal', () => {
  it('a raw-mode job comes back raw, at its window size; Ctrl-Z and its end give the shell its cooked terminal back', async () => {
    const dir = tmpdir('ttymodes');
    const out = path.join(dir, 'result');
    const launch = [path.join(CASES, 'launcher'), '--no-setsid', '--stdin', '-', '--stdout', path.join(dir, 'stdout'), '--stderr', path.join(dir, 'stderr'), '--', path.join(CASES, 'ttymodes'), '--out', out];
    const first = shell(dir, launch);
    await waitFor(() => fs.existsSync(`${out}.ready`) || fs.existsSync(out), 20_000, 'ttymodes to be ready');
    const pid = Number(fs.readFileSync(`${out}.ready`, 'utf8'));
    trackPid(pid);
    const img = path.join(dir, 'img.ucr');
    const ck = ucr(['checkpoint', String(pid), '-o', img, '--kill']);
    expect(ck.code, ck.stderr).toBe(0);
    await first.done;
    await waitFor(() => !exists(pid), 10_000, `pid ${pid} free`);

    // restarted by `ucr restart` as a job of a shell on a fresh terminal (cooked, 24x80)
    fs.rmSync(`${out}.ready`);
    const second = shell(dir, [process.execPath, UCR, 'restart', '-i', img]);
    await waitRestored(pid, 'ttymodes');
    fs.writeFileSync(second.zfile, ''); // Ctrl-Z: the job stops, the shell gets its terminal back
    await waitFor(() => second.lines().length > 0, 10_000, 'the shell to see the job stopped');
    const [stopped, lflag, rows, cols] = second.lines()[0]!.split(' ');
    expect(stopped).toBe('stopped');
    expect(Number(lflag) & (ICANON | ECHO)).toBe(ICANON | ECHO);
    expect([Number(rows), Number(cols)]).toEqual([24, 80]);
    // the shell continued it in the foreground (fg): it has its raw modes and size again
    await waitFor(() => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'T', 10_000, 'the job to run again');
    expect(await verdict({ name: 'ttymodes', pid, out, dir, proc: second.p })).toBe('PASS');
    await second.done;
    const ended = second.lines()[1]!.split(' ');
    expect(ended[0]).toBe('ended');
    expect(Number(ended[1]) & (ICANON | ECHO)).toBe(ICANON | ECHO);
    expect(ended.slice(2).map(Number)).toEqual([24, 80, 0]);
  });

  it('a job that opened /dev/tty gets the /dev/tty of the terminal it is restarted onto (the caller\'s), in its session', async () => {
    const dir = tmpdir('devtty');
    const out = path.join(dir, 'result');
    const launch = [path.join(CASES, 'launcher'), '--no-setsid', '--stdin', '-', '--stdout', path.join(dir, 'stdout'), '--stderr', path.join(dir, 'stderr'), '--', path.join(CASES, 'ttymodes'), '--out', out, '--devtty'];
    const first = shell(dir, launch);
    await waitFor(() => fs.existsSync(`${out}.ready`) || fs.existsSync(out), 20_000, 'ttymodes to be ready');
    const pid = Number(fs.readFileSync(`${out}.ready`, 'utf8'));
    trackPid(pid);
    const img = path.join(dir, 'img.ucr');
    const ck = ucr(['checkpoint', String(pid), '-o', img, '--kill']);
    expect(ck.stderr).not.toMatch(/dev\/tty/);
    expect(ck.code, ck.stderr).toBe(0);
    await first.done;
    await waitFor(() => !exists(pid), 10_000, `pid ${pid} free`);
    fs.rmSync(`${out}.ready`);
    const second = shell(dir, [process.execPath, UCR, 'restart', '-i', img]);
    await waitRestored(pid, 'ttymodes');
    expect(await verdict({ name: 'ttymodes', pid, out, dir, proc: second.p })).toBe('PASS');
    await second.done;
  });
});
