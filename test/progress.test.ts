import { describe, expect, it } from 'vitest';
import { attachProgress, PROGRESS_MIN_BYTES, renderProgress } from '../src/cli/progress.js';
import { UcrEmitter } from '../src/events.js';
import { humanLine } from '../src/log.js';
import { parseTrace, toChromeTrace, traceTable } from '../src/trace.js';

const MIB = 1 << 20;

describe('progress bar', () => {
  it('renders a bar, percentage, sizes and rate within the width', () => {
    expect(renderProgress('checkpoint', 250 * MIB, 1000 * MIB, 1000, 80)).toBe(
      `ucr checkpoint [${'#'.repeat(7)}${'.'.repeat(22)}]  25%  250.0/1000.0 MiB  250 MiB/s`, // 80 columns: a quarter of 29
    );
    expect(renderProgress('restart', 0, 200 * MIB, 0, 60)).toBe(`ucr restart [${'.'.repeat(26)}]   0%  0.0/200.0 MiB`);
    const full = renderProgress('restart', 200 * MIB, 200 * MIB, 2000, 60);
    expect(full).toMatch(/^ucr restart \[#+\] 100%  200\.0\/200\.0 MiB  100 MiB\/s$/);
    for (const w of [40, 60, 80, 120]) expect(renderProgress('checkpoint', 123 * MIB, 999 * MIB, 777, w).length).toBeLessThanOrEqual(w);
    expect(renderProgress('checkpoint', 5, 10, 1, 20).length).toBeLessThanOrEqual(20); // too narrow: no bar
    expect(renderProgress('checkpoint', 20, 10, 1, 80)).toContain('100%'); // never more than 100
  });

  it('draws only on a terminal and only above ~100 MB; ends with a newline', () => {
    const out: string[] = [];
    const tty = { isTTY: true, columns: 81, write: (s: string) => out.push(s) };
    const ev = new UcrEmitter();
    attachProgress(ev, tty);
    ev.emit('progress', { op: 'checkpoint', bytesDone: 0, bytesTotal: PROGRESS_MIN_BYTES - 1 });
    ev.emit('progress', { op: 'checkpoint', bytesDone: PROGRESS_MIN_BYTES - 1, bytesTotal: PROGRESS_MIN_BYTES - 1 });
    expect(out).toEqual([]);
    ev.emit('progress', { op: 'restart', bytesDone: 0, bytesTotal: 200 * MIB });
    ev.emit('progress', { op: 'restart', bytesDone: 200 * MIB, bytesTotal: 200 * MIB });
    expect(out.length).toBe(3);
    expect(out[0]).toMatch(/^\rucr restart \[\.+\]   0%/);
    expect(out[1]).toMatch(/^\rucr restart \[#+\] 100%/);
    expect(out[1]!.length).toBeLessThanOrEqual(81);
    expect(out[2]).toBe('\n');

    const pipe: string[] = [];
    const ev2 = new UcrEmitter();
    attachProgress(ev2, { isTTY: false, write: (s: string) => pipe.push(s) });
    ev2.emit('progress', { op: 'restart', bytesDone: 0, bytesTotal: 900 * MIB });
    ev2.emit('progress', { op: 'restart', bytesDone: 900 * MIB, bytesTotal: 900 * MIB });
    expect(pipe).toEqual([]);
  });
});

describe('logs and traces', () => {
  it('human log lines on a terminal', () => {
    const line = humanLine(JSON.stringify({ level: 20, time: Date.UTC(2025, 0, 2, 3, 4, 5, 6), tool: 'ucr', module: 'checkpoint', pid: 42, msg: 'phase', phase: 'freeze', ms: 1.5 }));
    expect(line).toBe('03:04:05.006 DEBUG checkpoint[42]: phase phase=freeze ms=1.5');
    expect(humanLine('not json\n')).toBe('not json');
  });

  it('a trace round-trips into a table with totals per phase', () => {
    const t = toChromeTrace(
      'restart',
      [
        { op: 'restart', phase: 'read-metadata', startMs: 0, endMs: 1.5 },
        { op: 'restart', phase: 'map', pid: 7, startMs: 2, endMs: 3 },
        { op: 'restart', phase: 'map', pid: 8, startMs: 2.5, endMs: 4, failed: true },
        { op: 'restart', phase: 'action', detail: 'post-restore', startMs: 5, endMs: 6 },
      ],
      { tool: 'ucr test', startedAt: '2025-01-01T00:00:00Z' },
    );
    expect(t.traceEvents.filter((e) => e.ph === 'M').map((e) => e.args!.name)).toEqual(['ucr restart', 'coordinator', 'task 7', 'task 8']);
    const back = parseTrace(JSON.stringify(t));
    expect(back.op).toBe('restart');
    expect(back.rows.map((r) => [r.phase, r.pid, r.detail, r.startMs, r.durMs, r.failed])).toEqual([
      ['read-metadata', undefined, undefined, 0, 1.5, false],
      ['map', 7, undefined, 2, 1, false],
      ['map', 8, undefined, 2.5, 1.5, true],
      ['action', undefined, 'post-restore', 5, 1, false],
    ]);
    const table = traceTable(back).split('\n');
    expect(table[0]).toBe('restart: 4 phase(s)');
    expect(table).toContain('       2.500      1.500  8        map  (failed)');
    expect(table).toContain('       2.500      2  map');
    expect(() => parseTrace('[{"ph":"X","name":"x"}]', 'f')).toThrow('f: not a trace file: a complete event without name, ts or dur');
    expect(() => parseTrace('{', 'f')).toThrow(/^f: not a trace file: /);
  });
});
