/**
 * Timelines of a checkpoint or restart in the Chrome trace-event format (JSON object form),
 * which Perfetto (ui.perfetto.dev) and chrome://tracing open: one complete ('X') event per
 * phase, on a row per task ("task 1234") and one for the coordinator's tree-wide phases, with
 * the phase, who ran it (from the stage table, stages.ts), pid and detail in args.
 * parseTrace/traceTable read such a file back as a table.
 */
import { UcrError } from './errors.js';
import type { Operation, PhaseRecord } from './events.js';
import { stageOf } from './stages.js';

export interface TraceEvent {
  name: string;
  cat?: string;
  ph: 'X' | 'M';
  /** microseconds */
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  otherData: { tool: string; op: Operation; startedAt: string; [k: string]: unknown };
}

const us = (ms: number) => Math.round(ms * 1000);

/** The trace of one operation from its phase records (result.phases or phase-end events). */
export function toChromeTrace(op: Operation, phases: PhaseRecord[], info: { tool: string; startedAt: string; [k: string]: unknown }): ChromeTrace {
  const ev: TraceEvent[] = [{ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: `ucr ${op}` } }];
  ev.push({ name: 'thread_name', ph: 'M', pid: 1, tid: 0, args: { name: 'coordinator' } });
  const tasks = [...new Set(phases.filter((p) => p.pid !== undefined).map((p) => p.pid!))].sort((a, b) => a - b);
  for (const t of tasks) ev.push({ name: 'thread_name', ph: 'M', pid: 1, tid: t, args: { name: `task ${t}` } });
  for (const p of [...phases].sort((a, b) => a.startMs - b.startMs))
    ev.push({
      name: p.detail ? `${p.phase} ${p.detail}` : p.phase,
      cat: op,
      ph: 'X',
      ts: us(p.startMs),
      dur: Math.max(0, us(p.endMs) - us(p.startMs)),
      pid: 1,
      tid: p.pid ?? 0,
      args: { phase: p.phase, by: stageOf(op, p.phase)?.by, ...(p.pid !== undefined ? { pid: p.pid } : {}), ...(p.detail ? { detail: p.detail } : {}), ...(p.failed ? { failed: true } : {}) },
    });
  return { traceEvents: ev, displayTimeUnit: 'ms', otherData: { ...info, op } };
}

export interface TraceRow {
  phase: string;
  pid?: number;
  detail?: string;
  startMs: number;
  durMs: number;
  failed: boolean;
}

/** Reads a trace file's text back (a ucr trace, or any trace with complete events). */
export function parseTrace(text: string, name = 'trace'): { op: string; rows: TraceRow[] } {
  const bad = (why: string) => new UcrError(`${name}: not a trace file: ${why}`, { code: 'EINVAL', object: name });
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw bad((e as Error).message);
  }
  const events = Array.isArray(j) ? j : (j as { traceEvents?: unknown })?.traceEvents;
  if (!Array.isArray(events)) throw bad('no traceEvents array');
  const rows: TraceRow[] = [];
  for (const e of events as Record<string, unknown>[]) {
    if (!e || typeof e !== 'object' || e.ph !== 'X') continue;
    if (typeof e.name !== 'string' || typeof e.ts !== 'number' || typeof e.dur !== 'number' || !Number.isFinite(e.ts) || !Number.isFinite(e.dur))
      throw bad('a complete event without name, ts or dur');
    const args = (e.args && typeof e.args === 'object' ? e.args : {}) as Record<string, unknown>;
    rows.push({
      phase: typeof args.phase === 'string' ? args.phase : e.name,
      pid: typeof args.pid === 'number' ? args.pid : typeof e.tid === 'number' && e.tid ? e.tid : undefined,
      detail: typeof args.detail === 'string' ? args.detail : undefined,
      startMs: e.ts / 1000,
      durMs: e.dur / 1000,
      failed: args.failed === true,
    });
  }
  rows.sort((a, b) => a.startMs - b.startMs);
  const other = (j as { otherData?: { op?: unknown } }).otherData;
  return { op: typeof other?.op === 'string' ? other.op : 'trace', rows };
}

/** The timeline as a text table, then the total per phase. */
export function traceTable(t: { op: string; rows: TraceRow[] }): string {
  const f = (n: number) => n.toFixed(3).padStart(10);
  const L = [`${t.op}: ${t.rows.length} phase(s)`, `  ${'start ms'.padStart(10)} ${'ms'.padStart(10)}  ${'task'.padEnd(8)} phase`];
  for (const r of t.rows)
    L.push(`  ${f(r.startMs)} ${f(r.durMs)}  ${String(r.pid ?? '-').padEnd(8)} ${r.phase}${r.detail ? ` ${r.detail}` : ''}${r.failed ? '  (failed)' : ''}`);
  const total = new Map<string, { ms: number; n: number }>();
  for (const r of t.rows) {
    const x = total.get(r.phase) ?? { ms: 0, n: 0 };
    total.set(r.phase, { ms: x.ms + r.durMs, n: x.n + 1 });
  }
  L.push('per phase:', `  ${'ms'.padStart(10)} ${'count'.padStart(6)}  phase`);
  for (const [p, x] of total) L.push(`  ${f(x.ms)} ${String(x.n).padStart(6)}  ${p}`);
  return L.join('\n');
}
