/**
 * Structured logs (pino): JSON lines to a file (--log-file) or to stderr; on a terminal, stderr
 * gets one human line per record instead ("12:03:04.123 DEBUG checkpoint: phase phase=freeze ...").
 * Each module takes a child logger.
 */
import fs from 'node:fs';
import path from 'node:path';
import { destination, pino, type DestinationStream, type Logger } from 'pino';
import { systemErrorText } from './errno.js';
import { UcrError } from './errors.js';

export type { Logger };

export interface LogOptions {
  /** pino level: trace, debug, info, warn, error, fatal, silent. @default 'silent' */
  level?: string;
  /** JSON lines to this file instead of stderr */
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
  const t = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const kv = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${(LEVELS[level as number] ?? String(level)).padEnd(5)} ${module ?? 'ucr'}${pid !== undefined ? `[${pid}]` : ''}: ${msg ?? ''}${kv ? ' ' + kv : ''}`;
}

function humanStream(fd: number): DestinationStream {
  const d = destination({ dest: fd, sync: true });
  return { write: (s: string) => d.write(humanLine(s) + '\n') };
}

/** Creates dir and its missing parents, one by one: fs.mkdirSync's recursive mode loops
 * forever where mkdir says ENOENT of a directory that exists (/proc/none). */
function makeDirs(dir: string): void {
  if (fs.existsSync(dir)) return;
  makeDirs(path.dirname(dir));
  fs.mkdirSync(dir);
}

/** The log file opened for appending (its directory created): an fd, or an error naming it. */
function openLogFile(file: string): number {
  try {
    makeDirs(path.dirname(path.resolve(file)));
    return fs.openSync(file, 'a', 0o600);
  } catch (e) {
    throw new UcrError(`log file ${file}: cannot open it: ${systemErrorText(e)}`, { code: (e as NodeJS.ErrnoException).code, object: file });
  }
}

export function createLogger(opt: LogOptions = {}): Logger {
  const level = opt.level ?? 'silent';
  const base = { base: { tool: 'ucr' }, level };
  if (opt.file) return pino(base, destination({ dest: openLogFile(opt.file), sync: true }));
  return pino(base, opt.human ? humanStream(2) : destination({ dest: 2, sync: true }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
