/**
 * A running ucr-helper and its control channel (protocol in native/helper/proto.h): lines of
 * words to its stdin, one JSON event per line from its stdout, diagnostics on its stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { helperPath } from '../native/addon.js';

export interface HelperEvent {
  ev: string;
  [k: string]: unknown;
}

export interface HelperFailure {
  phase: string;
  object: string;
  errno: number;
  msg: string;
}

export class HelperError extends Error {
  override name = 'HelperError';
  constructor(readonly failure: HelperFailure) {
    super(failure.msg);
  }
}

export class Helper {
  private proc: ChildProcess;
  private queue: HelperEvent[] = [];
  private waiters: { resolve: (e: HelperEvent) => void; reject: (e: Error) => void }[] = [];
  private ended: Error | undefined;
  readonly stderr: string[] = [];
  readonly exited: Promise<number>;

  /** extraFds become the helper's fds 3, 4, ... */
  constructor(args: string[], extraFds: number[] = []) {
    this.proc = spawn(helperPath(), args, { stdio: ['pipe', 'pipe', 'pipe', ...extraFds] });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => this.onLine(line));
    createInterface({ input: this.proc.stderr! }).on('line', (line) => this.stderr.push(line));
    this.proc.stdin!.on('error', () => {}); // a dead helper is reported through its exit
    this.exited = new Promise((resolve) => {
      this.proc.on('close', (code, signal) => {
        this.finish(new Error(`ucr-helper exited (${signal ?? code})${this.stderr.length ? ': ' + this.stderr.slice(-3).join(' | ') : ''}`));
        resolve(code ?? 128);
      });
      this.proc.on('error', (e) => {
        this.finish(e);
        resolve(127);
      });
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  private onLine(line: string): void {
    let ev: HelperEvent;
    try {
      ev = JSON.parse(line) as HelperEvent;
    } catch {
      this.stderr.push(`unparsable helper output: ${line}`);
      return;
    }
    const w = this.waiters.shift();
    if (w) this.deliver(ev, w);
    else this.queue.push(ev);
  }

  private deliver(ev: HelperEvent, w: { resolve: (e: HelperEvent) => void; reject: (e: Error) => void }): void {
    if (ev.ev === 'error') w.reject(new HelperError(ev as unknown as HelperFailure));
    else w.resolve(ev);
  }

  private finish(e: Error): void {
    this.ended ??= e;
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  send(...lines: string[]): void {
    if (lines.length) this.proc.stdin!.write(lines.join('\n') + '\n');
  }

  /** The next event; an error event rejects with HelperError. */
  next(expect?: string): Promise<HelperEvent> {
    const ev = this.queue.shift();
    const p = ev
      ? new Promise<HelperEvent>((resolve, reject) => this.deliver(ev, { resolve, reject }))
      : this.ended
        ? Promise.reject(this.ended)
        : new Promise<HelperEvent>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!expect) return p;
    return p.then((e) => {
      if (e.ev !== expect) throw new Error(`ucr-helper: expected event ${expect}, got ${e.ev}`);
      return e;
    });
  }

  /** Closes the command channel (the helper treats EOF as "undo and exit"). */
  close(): void {
    this.proc.stdin!.end();
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/** Hex of a string's UTF-8 bytes, the protocol's encoding for paths and names. */
export function hex(s: string | Uint8Array): string {
  return Buffer.from(s as string).toString('hex');
}
