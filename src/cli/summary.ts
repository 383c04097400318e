/**
 * The one line a successful checkpoint or restart ends with on stderr, when stderr is a terminal
 * (or with -v): "checkpointed 4 processes, 7 threads, 312 MiB in 0.41 s -> img.ucr (0600)".
 * Pure functions (unit-tested); the CLI decides when to print them.
 */
import type { CheckpointResult } from '../orchestrator/checkpoint.js';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "312 MiB", "8.1 MiB", "4.0 KiB" */
export function sizeText(bytes: number): string {
  const [n, unit] = bytes >= 1 << 30 ? [bytes / (1 << 30), 'GiB'] : bytes >= 1 << 20 ? [bytes / (1 << 20), 'MiB'] : [bytes / 1024, 'KiB'];
  return `${n >= 100 ? n.toFixed(0) : n.toFixed(1)} ${unit}`;
}

export const secondsText = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** output: the -o argument; verbose adds what -v tells besides (compression, a replaced file);
 * into: a file made (0600), or a pipe or device written into (stdout, /dev/null, a FIFO). */
export function checkpointSummary(
  r: Pick<CheckpointResult, 'tasks' | 'threads' | 'bytes' | 'pageBytes' | 'compression' | 'killed' | 'replaced'>,
  output: string,
  ms: number,
  verbose: boolean,
  into: 'stdout' | 'special' | 'file' = output === '-' ? 'stdout' : 'file',
): string {
  const where = output === '-' ? 'stdout' : into === 'file' ? `${output} (0600${verbose && r.replaced ? ', replaced the existing file' : ''})` : output;
  const c = r.compression;
  const lz4 = verbose && c ? `, pages ${sizeText(r.pageBytes)} -> ${sizeText(c.storedBytes)} (lz4 ratio ${c.ratio.toFixed(2)})` : '';
  return `checkpointed ${plural(r.tasks, 'process', 'processes')}, ${plural(r.threads, 'thread')}, ${sizeText(r.bytes)} in ${secondsText(ms)} -> ${where}${lz4}${r.killed ? ', killed' : ''}`;
}

/** where: 'same' pids, 'new' pids (--pids), or a new pid namespace. */
export function restartSummary(processes: number, where: 'same' | 'new' | 'pidns', ms: number): string {
  const at = where === 'same' ? 'at their pids' : where === 'new' ? 'at new pids' : 'in a new pid namespace';
  return `restarted ${plural(processes, 'process', 'processes')} ${at} in ${secondsText(ms)}`;
}
