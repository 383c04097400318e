/**
 * Structured logs (pino): JSON lines to a file (--log-file) or to stderr; on a terminal, stderr
 * gets one human line per record instead ("12:03:04.123 DEBUG checkpoint: phase phase=freeze ...").
 * Each module takes a child logger.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import { systemErrorText } from './errno.js';
import { isoTime } from './iso-time.js';
import { UcrError } from './errors.js';
import { createNewFile } from './new-file.js';

export type { Logger };

type Pino = typeof import('pino');
let loaded: Pino | undefined;
/** pino itself, loaded on the first logger that may write something (not at start-up: most
 * commands log nothing, and loading it costs a command ~20 ms). */
function pinoModule(): Pino {
  return (loaded ??= createRequire(import.meta.url)('pino') as Pino);
}

export interface LogOptions {
  /** pino level: trace, debug, info, warn, error, fatal, silent. @default 'silent' */
  level?: string;
  /** JSON lines to this file instead of stderr (a new file replaces what was there: see
   * new-file.ts) */
  file?: string;
  /** format for people instead of JSON (the CLI sets it when stderr is a terminal) */
  human?: boolean;
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One human line from a pino JSON record. */
export function humanLine(json: string): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const { level, time, msg, module, pid, hostname, tool, ...rest } = r;
  void hostname;
  void tool;
  const t = typeof time === 'number' ? isoTime(time).slice(11, 23) : '';
  const kv = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${(LEVELS[level as number] ?? String(level)).padEnd(5)} ${module ?? 'ucr'}${pid !== undefined ? `[${pid}]` : ''}: ${msg ?? ''}${kv ? ' ' + kv : ''}`;
}

function humanStream(fd: number): DestinationStream {
  const d = pinoModule().destination({ dest: fd, sync: true });
  return { write: (s: string) => d.write(humanLine(s) + '\n') };
}

const noop = (): void => {};
/** A logger that writes nothing, without pino: what a call without a logger gets, and what
 * createLogger gives for level 'silent' without a file. */
export const silentLogger: Logger = {
  level: 'silent',
  child: () => silentLogger,
  isLevelEnabled: () => false,
  fatal: noop,
  error: noop,
  warn: noop,
  info: noop,
  debug: noop,
  trace: noop,
  silent: noop,
} as unknown as Logger;
/** Creates dir and its missing parents, one by one: fs.mkdirSync's recursive mode loops
 * forever where mkdir says ENOENT of a directory that exists (/proc/none). */
function makeDirs(dir: string): void {
  if (fs.existsSync(dir)) return;
  makeDirs(path.dirname(dir));
  fs.mkdirSync(dir);
}

/** The log file, created new (0600, never through a symlink: new-file.ts) in its directory
 * (created if missing): an fd, or an error naming it. */
function openLogFile(file: string): number {
  try {
    makeDirs(path.dirname(path.resolve(file)));
    return createNewFile(file, 'log file').fd; // open for as long as the process runs
  } catch (e) {
    if (e instanceof UcrError) throw e;
    throw new UcrError(`log file ${file}: cannot open it: ${systemErrorText(e)}`, { code: (e as NodeJS.ErrnoException).code, object: file });
  }
}

export function createLogger(opt: LogOptions = {}): Logger {
  const level = opt.level ?? 'silent';
  if (level === 'silent' && !opt.file) return silentLogger;
  const { pino, destination } = pinoModule();
  const base = { base: { tool: 'ucr' }, level };
  if (opt.file) return pino(base, destination({ dest: openLogFile(opt.file), sync: true }));
  return pino(base, opt.human ? humanStream(2) : destination({ dest: 2, sync: true }));
}
