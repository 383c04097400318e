/** Structured logs (pino, JSON lines on stderr or a file). Each module takes a child logger. */
import { destination, pino, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  file?: string;
}

export function createLogger(opt: LogOptions = {}): Logger {
  const level = opt.level ?? 'silent';
  if (opt.file) return pino({ level, base: { tool: 'ucr' } }, destination({ dest: opt.file, sync: true, mkdir: true }));
  return pino({ level, base: { tool: 'ucr' } }, destination({ dest: 2, sync: true }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
