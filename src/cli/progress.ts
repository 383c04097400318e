/**
 * The progress bar on stderr: only when stderr is a terminal and the operation moves more than
 * PROGRESS_MIN_BYTES of pages; silent otherwise. renderProgress is pure (unit-tested).
 */
import type { Operation, UcrEmitter } from '../events.js';
import { nowMs } from '../monotonic.js';

export const PROGRESS_MIN_BYTES = 100 * 1024 * 1024;

const MIB = 1024 * 1024;

/** One line, at most `width` columns: "ucr checkpoint [#####.....]  42%  420.0/1000.0 MiB  350 MiB/s" */
export function renderProgress(op: Operation, done: number, total: number, elapsedMs: number, width = 80): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  const sizes = `${(done / MIB).toFixed(1)}/${(total / MIB).toFixed(1)} MiB`;
  const rate = elapsedMs > 0 ? `${((done / MIB) * (1000 / elapsedMs)).toFixed(0)} MiB/s` : '';
  const head = `ucr ${op} `;
  const tail = ` ${pct}  ${sizes}${rate ? '  ' + rate : ''}`;
  const barWidth = width - head.length - tail.length - 2;
  if (barWidth < 5) return (head + tail.trimStart()).slice(0, width);
  const full = Math.round(frac * barWidth);
  return `${head}[${'#'.repeat(full)}${'.'.repeat(barWidth - full)}]${tail}`;
}

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

/** Draws progress events on a terminal stream (at most every 100 ms, plus the last one).
 * Returns a function that ends a bar left unfinished (before an error line). */
export function attachProgress(events: UcrEmitter, stream: ProgressStream, minBytes = PROGRESS_MIN_BYTES): () => void {
  if (!stream.isTTY) return () => {};
  let start = 0;
  let last = 0;
  let shown = false;
  events.on('progress', (p) => {
    if (p.bytesTotal < minBytes) return;
    const now = nowMs();
    if (p.bytesDone === 0 || !start) start = now;
    const end = p.bytesDone >= p.bytesTotal;
    if (!end && now - last < 100) return;
    last = now;
    stream.write(`\r${renderProgress(p.op, p.bytesDone, p.bytesTotal, now - start, Math.min(stream.columns || 80, 120) - 1)}`);
    shown = true;
    if (end) {
      stream.write('\n');
      shown = false;
    }
  });
  // a warning or error line must not land in the middle of the bar
  const end = () => {
    if (shown) stream.write('\n');
    shown = false;
  };
  events.on('warning', end);
  return end;
}
