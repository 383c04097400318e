/**
 * A running ucr-helper and its control channel (protocol/schema.mjs, docs/protocol.md): lines of
 * words to its stdin (made by the generated encoders of protocol.gen.ts), one JSON event per line
 * from its stdout (checked and typed by the generated decoder), diagnostics on its stderr.
 *
 * The helper is started by the addon (posix_spawn, native/addon/spawn.cc) and its end watched
 * through a pidfd; its pipes are read and written from the event loop by the addon too
 * (native/addon/pipes.cc). Neither node:child_process nor node:net is loaded for it: spawning
 * through a ChildProcess cost every command ~4.5 ms of its main thread, three net.Sockets
 * ~1.5 ms more for the stream modules (docs/performance.md, "Fifteenth session", "Seventeenth
 * session").
 */
import fs from 'node:fs';
import { systemErrorText } from '../errno.js';
import { UcrError } from '../errors.js';
import { signalName } from '../signals.js';
import { helperPath, native, type PipeWriter } from '../native/addon.js';
import { decodeEvent, type EvError, type EventName, type EventOf, type HelperEvent } from './protocol.gen.js';

export type { HelperEvent } from './protocol.gen.js';

/** native/helper/core/proto.h LINE_MAX_LEN */
const LINE_MAX_LEN = 16 << 20;
/** A piece of plan lines up to this size is joined into one string before it is copied (write). */
const JOIN_MAX = 1 << 20;

/** A failure as the helper reports it: phase, object, the system call that failed ('' when
 * none did), errno (0: none) and the reason in words. */
export type HelperFailure = Omit<EvError, 'ev'>;

export class HelperError extends Error {
  override name = 'HelperError';
  constructor(readonly failure: HelperFailure) {
    super(failure.msg);
  }
}

export class Helper {
  /** the end of the helper's stdin to write (undefined: it could not be started, or is closed) */
  private stdin: PipeWriter | undefined;
  /** bytes written to stdin that its pipe has not taken yet */
  private kept = 0;
  /** sendChunks waiting for them to be taken (or for stdin to close) */
  private drains: (() => void)[] = [];
  private childPid: number | undefined;
  /** started and not reaped yet: its pid is still its own (signals may be sent) */
  private running = false;
  private queue: HelperEvent[] = [];
  private waiters: { match: (e: HelperEvent) => boolean; resolve: (e: HelperEvent) => void; reject: (e: Error) => void }[] = [];
  private ended: Error | undefined;
  readonly stderr: string[] = [];
  /** Its exit status (128 when a signal ended it, 127 when it could not be started), once it
   * has exited and everything it wrote has been read. */
  readonly exited: Promise<number>;

  /** extraFds become the helper's fds 3, 4, ... */
  constructor(args: string[], extraFds: number[] = []) {
    const file = helperPath();
    let fds: [number, number, number, number, number];
    try {
      // the environment as a ChildProcess gets it: process.env (a worker thread's own copy too)
      const env: string[] = [];
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env.push(`${k}=${v}`);
      fds = native().spawnHelper(file, args, extraFds, env);
    } catch (e) {
      this.finish(new UcrError(`ucr-helper ${file}: cannot start it: ${systemErrorText(e)}`, { code: 'EHELPER', object: file, cause: e }));
      this.exited = Promise.resolve(127);
      return;
    }
    const [pid, pidfd, inFd, outFd, errFd] = fds;
    this.childPid = pid;
    this.running = true;
    const addon = native();
    let stdin: PipeWriter | undefined;
    try {
      stdin = addon.pipeWrite(inFd, (ev) => {
        this.kept = 0;
        if (ev === 'close') this.stdin = undefined;
        for (const d of this.drains.splice(0)) d();
      });
      this.stdin = stdin;
    } catch {
      // libuv could not poll it: no command goes, the helper reads EOF (undo and exit)
      fs.closeSync(inFd);
    }
    this.exited = new Promise((resolve) => {
      // as a ChildProcess's 'close': exited, and both of its outputs read to their end
      let left = 3;
      let how = '';
      let status = 128;
      const one = () => {
        if (--left) return;
        this.finish(new UcrError(`ucr-helper ${file}: ${how} before it was done${this.stderr.length ? ': ' + this.stderr.slice(-3).join(' | ') : ''}`, { code: 'EHELPER', object: file }));
        resolve(status);
      };
      const read = (fd: number, lines: LineSplitter) => {
        try {
          addon.pipeRead(fd, (chunk, n) => {
            if (chunk) lines.data(n === chunk.length ? chunk : chunk.subarray(0, n));
            else {
              lines.end();
              one();
            }
          });
        } catch {
          // libuv could not poll it: nothing is read from it (the helper gets EPIPE)
          fs.closeSync(fd);
          one();
        }
      };
      read(outFd, lineSplitter((line) => this.onLine(line), (bin) => this.blobs.push(bin), (len) => this.frame(len)));
      read(errFd, lineSplitter((line) => this.stderr.push(line)));
      const gone = (text: string, st: number) => {
        this.running = false;
        // as a ChildProcess's stdin: its fd is closed once the helper is gone
        stdin?.destroy();
        how = text;
        status = st;
        one();
      };
      try {
        native().watchExit(pidfd, (code, signal) => gone(signal ? `was killed by ${signalName(signal)}` : `exited with status ${code}`, signal ? 128 : code));
      } catch (e) {
        // libuv could not poll the pidfd: a helper that cannot be watched is not kept
        fs.closeSync(pidfd);
        process.kill(pid, 'SIGKILL');
        gone(`could not be watched (${systemErrorText(e)})`, 128);
      }
    });
  }

  /** Called with the bytes of pages moved so far by the current page command (the helper
   * reports every 16 MiB); progress events are never queued. */
  onProgress: ((bytes: number) => void) | undefined;

  get pid(): number | undefined {
    return this.childPid;
  }

  private onLine(line: string): void {
    let ev: HelperEvent;
    try {
      ev = decodeEvent(line);
    } catch {
      this.stderr.push(`unparsable helper output: ${line}`);
      return;
    }
    // an event naming "bin": LEN carries the binary frame the helper wrote just before it
    const bin = (ev as { bin?: unknown }).bin;
    if (typeof bin === 'number') {
      const blob = this.blobs.shift();
      if (blob?.length === bin) (ev as { blob?: Buffer }).blob = blob;
    }
    if (ev.ev === 'progress') {
      this.onProgress?.(ev.bytes);
      return;
    }
    if (ev.ev === 'error') {
      // the first failure ends every wait (later events are of no interest)
      const e = new HelperError(ev);
      this.failed ??= e;
      for (const w of this.waiters.splice(0)) w.reject(this.failed);
      return;
    }
    const i = this.waiters.findIndex((w) => w.match(ev));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(ev);
    else this.queue.push(ev);
  }

  private failed: HelperError | undefined;
  /** binary frames not yet taken by their event (onLines) */
  private blobs: Buffer[] = [];
  /** frames given back (reuse), for the next frames: a checkpoint's `state` frames (~40 KB a
   * task with its /proc files) otherwise pile up in the old generation until a full GC */
  private spare: Buffer[] = [];

  /** A buffer of len bytes for a frame: a spare one that is large enough, else a new one. */
  private frame(len: number): Buffer {
    for (let i = this.spare.length - 1; i >= 0; i--) {
      const b = this.spare[i]!;
      if (b.length < len) continue;
      this.spare[i] = this.spare[this.spare.length - 1]!;
      this.spare.pop();
      return b.subarray(0, len);
    }
    // rounded up: frames of the next tasks (their smaps) differ by a few bytes
    return len > 64 << 10 ? Buffer.allocUnsafe(len) : Buffer.allocUnsafe((len + 16383) & ~16383).subarray(0, len);
  }

  /** Gives back an event's frame once nothing refers to its bytes any more (they are written
   * over by a later frame). Frames of 64 KiB or less, at most 64 kept. */
  reuse(blob: Buffer | undefined): void {
    // only this.frame's own buffers (16 KiB steps, never Node's shared pool)
    const size = blob?.buffer.byteLength ?? 0;
    if (!blob || blob.byteOffset !== 0 || size === 0 || size > 64 << 10 || size % 16384 || this.spare.length >= 64) return;
    this.spare.push(Buffer.from(blob.buffer, 0, size));
  }

  private finish(e: Error): void {
    this.ended ??= e;
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  /** Lines are ASCII (strings travel hex-encoded): latin1 is the cheap way to bytes. */
  send(...lines: string[]): void {
    this.sendLines(lines);
  }

  /** send() for a list of any length (a spread of a million lines would overflow the stack),
   * written in pieces. A line longer than the helper reads (LINE_MAX_LEN) is refused here:
   * the image checks keep every line below it, this is the last guard. */
  sendLines(lines: readonly string[]): void {
    this.write(lines, this.held);
  }

  /** Lines sent while sendChunks(..., alone) runs: written after its chunks. */
  private held: Buffer[] | undefined;

  private write(lines: readonly string[], to: Buffer[] | undefined): void {
    for (let i = 0; i < lines.length; i += 4096) {
      const part = lines.slice(i, i + 4096);
      let size = 0;
      for (const l of part) {
        if (l.length >= LINE_MAX_LEN) throw new UcrError(`restore plan: a "${l.slice(0, l.indexOf(' '))}" line of ${l.length} bytes is longer than the helper reads (${LINE_MAX_LEN >> 20} MiB)`, { code: 'EIMAGE' });
        size += l.length + 1;
      }
      // up to JOIN_MAX bytes, the lines joined and copied at once (a builtin call per line was
      // ~0.7 us, cold: 6 ms of a tree of 100's 0.9 MB plan, 2 joined); a longer piece line by
      // line into the buffer: no joined string (a plan of 2,000 threads with distinct XSAVE
      // areas is 9 MB of hex, which join() and Buffer.from() copied twice more, through a
      // string V8 keeps apart)
      let b: Buffer;
      if (size <= JOIN_MAX) {
        part.push(''); // the last newline
        b = Buffer.from(part.join('\n'), 'latin1');
      } else {
        b = Buffer.allocUnsafe(size);
        let at = 0;
        for (const l of part) {
          at += b.write(l, at, 'latin1');
          b[at++] = 10;
        }
      }
      if (to) to.push(b);
      else this.put(b);
    }
  }

  private put(b: Buffer): void {
    if (this.stdin) this.kept = this.stdin.write(b);
  }

  /** sendLines() for each chunk, waiting while the pipe to the helper is full: a long plan
   * (a tree of 1,000 tasks) is made as the helper reads it instead of held in a buffer at
   * once; up to `ahead` bytes are made and queued beyond that (a short plan made at once while
   * the helper is busy). A dead helper ends the waits (its exit reports it). alone: the chunks are one
   * command (`check` and its plan lines): what else is sent meanwhile waits until they are
   * all out, and if making them fails, alone.abort ends the command first. */
  async sendChunks(chunks: Iterable<readonly string[]>, alone?: { abort: string[] }, ahead = 0): Promise<void> {
    if (alone) this.held ??= [];
    try {
      for (const chunk of chunks) {
        this.write(chunk, alone ? undefined : this.held);
        if (this.kept <= ahead || !this.stdin || this.ended) continue;
        await new Promise<void>((resolve) => this.drains.push(resolve));
      }
    } catch (e) {
      if (alone) this.write(alone.abort, undefined);
      throw e;
    } finally {
      if (alone) {
        const held = this.held ?? [];
        this.held = undefined;
        for (const b of held) this.put(b);
      }
    }
  }

  /** The next event named ev (events of other names stay queued); a failure rejects with
   * HelperError. */
  next<K extends EventName>(ev: K): Promise<EventOf<K>> {
    return this.waitFor((e): e is EventOf<K> => e.ev === ev);
  }

  /** The first event that matches, whenever it comes (per-task steps finish in any order). */
  waitFor<E extends HelperEvent>(match: (e: HelperEvent) => e is E): Promise<E> {
    if (this.failed) return Promise.reject(this.failed);
    // mostly the first queued event (answers come in order): shift() takes it in constant time,
    // a splice() moved the whole queue (10,000 page scans queued: 0.1 s)
    if (this.queue.length && match(this.queue[0]!)) return Promise.resolve(this.queue.shift() as E);
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0] as E);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise<E>((resolve, reject) => this.waiters.push({ match, resolve: resolve as (e: HelperEvent) => void, reject }));
  }

  /** Closes the command channel (the helper treats EOF as "undo and exit"). */
  close(): void {
    this.stdin?.end();
  }

  /** Asks the helper to go (SIGTERM): on a restart, what is not running yet is undone. */
  terminate(): void {
    this.signal('SIGTERM');
  }

  kill(): void {
    this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    // not reaped yet, so the pid cannot be another process's
    if (this.running && this.childPid !== undefined) process.kill(this.childPid, sig);
  }
}

/** What lineSplitter gives: the chunks of a pipe in, then its end. */
interface LineSplitter {
  data(chunk: Buffer): void;
  end(): void;
}

/**
 * Splits the helper's output into lines for online (without their newline; a last line without
 * one at the end). Only the new bytes are searched for a newline, so a long line (the `state`
 * of a process with 2,000 threads: ~12 MB) costs its length once. The helper writes `\n` only.
 * A line "#bin LEN" is followed by LEN raw bytes, handed to onbin as one Buffer (registers and
 * xstate of a task's threads: no hex in JSON).
 */
function lineSplitter(online: (line: string) => void, onbin?: (b: Buffer) => void, alloc: (len: number) => Buffer = Buffer.allocUnsafe): LineSplitter {
  let parts: Buffer[] = [];
  let bin: Buffer | undefined; // the frame being read, and how much of it came
  let got = 0;
  return {
    data(chunk) {
      let from = 0;
      for (;;) {
        if (bin) {
          const n = Math.min(bin.length - got, chunk.length - from);
          chunk.copy(bin, got, from, from + n);
          got += n;
          from += n;
          if (got < bin.length) break;
          onbin?.(bin);
          bin = undefined;
        }
        const nl = chunk.indexOf(10, from);
        if (nl < 0) break;
        const line = parts.length ? Buffer.concat([...parts, chunk.subarray(from, nl)]) : chunk.subarray(from, nl);
        parts = [];
        from = nl + 1;
        if (onbin && line[0] === 35 /* # */ && line.subarray(0, 5).toString('latin1') === '#bin ') {
          const len = Number(line.subarray(5).toString('latin1'));
          if (Number.isSafeInteger(len) && len >= 0 && len <= 1 << 30) (bin = alloc(len)), (got = 0);
          else online(line.toString('utf8'));
        } else online(line.toString('utf8'));
      }
      if (from < chunk.length) parts.push(chunk.subarray(from));
    },
    end() {
      if (parts.length) online(Buffer.concat(parts).toString('utf8'));
      parts = [];
    },
  };
}

/** Hex of a string's UTF-8 bytes, the protocol's encoding for paths and names. */
export function hex(s: string | Uint8Array): string {
  return Buffer.from(s as string).toString('hex');
}
