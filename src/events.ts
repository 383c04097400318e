/**
 * Typed events of a checkpoint or restart (eventemitter3): phases as they start and end (per
 * task where a phase runs per task), bytes of pages done out of the total, warnings.
 */
import { EventEmitter } from 'eventemitter3';
import { faultPoint } from './fault.js';
import type { Logger } from './log.js';
import { CHECKPOINT_STAGES, RESTART_STAGES, type CheckpointStage, type RestartStage } from './stages.js';
import { nowMs } from './monotonic.js';

/** Checkpoint phases, in the order they run: the names of the stage table (stages.ts). */
export const CHECKPOINT_PHASES: readonly CheckpointStage[] = CHECKPOINT_STAGES.map((s) => s.name);
/** Restart phases, in the order they run: the names of the stage table (stages.ts). */
export const RESTART_PHASES: readonly RestartStage[] = RESTART_STAGES.map((s) => s.name);

export type CheckpointPhase = CheckpointStage;
export type RestartPhase = RestartStage;
export type Phase = CheckpointPhase | RestartPhase;
export type Operation = 'checkpoint' | 'restart';

export interface PhaseStart {
  op: Operation;
  phase: Phase;
  /** the task the phase is about (per-task phases), by its pid in the image */
  pid?: number;
  /** what the phase is about beyond the task: the action of an 'action' phase (pre-dump...) */
  detail?: string;
  /** ms since the operation started */
  atMs: number;
}

export interface PhaseRecord {
  op: Operation;
  phase: Phase;
  pid?: number;
  detail?: string;
  /** ms since the operation started */
  startMs: number;
  endMs: number;
  /** the phase ended with an error */
  failed?: boolean;
}

export interface ProgressEvent {
  op: Operation;
  /** bytes of page data written to the image (checkpoint) or into the tasks (restart) */
  bytesDone: number;
  bytesTotal: number;
}

export interface WarningEvent {
  op: Operation;
  message: string;
  pid?: number;
}

/** A checkpoint found stdio of the root that leads outside the tree (an anonymous pipe also
 * held outside, a socket, a terminal): it is not saved; a restart connects those fds to its own
 * stdio slot `slot`. */
export interface ExternalStdioEvent {
  op: Operation;
  pid: number;
  /** the root's fds (0-2) that refer to it */
  fds: number[];
  /** what it was: the fd's link (pipe:[N], socket:[N], /dev/pts/N) */
  path: string;
  slot: number;
}

export interface UcrEvents {
  /** A phase begins. A restart's per-task `map` and `finish` steps run queued in the helper's
   * tracer workers: their start (atMs, from the worker's own timing) is emitted together with
   * their end, when the step is done. */
  'phase-start': (e: PhaseStart) => void;
  'phase-end': (e: PhaseRecord) => void;
  progress: (e: ProgressEvent) => void;
  warning: (e: WarningEvent) => void;
  'external-stdio': (e: ExternalStdioEvent) => void;
}

/** Pass one in the options (`events`) to follow an operation; one emitter may serve several. */
export class UcrEmitter extends EventEmitter<UcrEvents> {}

/** Times phases against one origin and emits them; the list ends up in results. */
export class PhaseClock {
  readonly origin = nowMs();
  readonly phases: PhaseRecord[] = [];
  constructor(
    readonly op: Operation,
    private readonly events?: UcrEmitter,
    private readonly log?: Logger,
  ) {}

  async run<T>(phase: Phase, fn: () => T | Promise<T>, pid?: number, detail?: string): Promise<T> {
    const startMs = nowMs() - this.origin;
    this.events?.emit('phase-start', { op: this.op, phase, pid, detail, atMs: startMs });
    let failed = true;
    try {
      faultPoint(phase, pid);
      const r = await fn();
      failed = false;
      return r;
    } finally {
      const rec: PhaseRecord = { op: this.op, phase, pid, detail, startMs, endMs: nowMs() - this.origin };
      if (failed) rec.failed = true;
      this.end(rec);
    }
  }

  private end(rec: PhaseRecord): void {
    this.phases.push(rec);
    this.log?.debug({ phase: rec.phase, pid: rec.pid, detail: rec.detail, ms: +(rec.endMs - rec.startMs).toFixed(3), failed: rec.failed ?? false }, 'phase');
    this.events?.emit('phase-end', rec);
  }

  /** A phase that ran elsewhere (the helper's tracers) and took durationMs, ending now: its
   * start and end events are emitted together. */
  record(phase: Phase, durationMs: number, pid?: number): void {
    const endMs = nowMs() - this.origin;
    const startMs = Math.max(0, endMs - durationMs);
    this.events?.emit('phase-start', { op: this.op, phase, pid, atMs: startMs });
    this.end({ op: this.op, phase, pid, startMs, endMs });
  }

  warn(message: string, pid?: number): void {
    this.log?.warn({ pid }, message);
    this.events?.emit('warning', { op: this.op, message, pid });
  }

  progress(bytesDone: number, bytesTotal: number): void {
    this.events?.emit('progress', { op: this.op, bytesDone, bytesTotal });
  }
}

/** Total ms per phase name (per-task phases summed). */
export function phaseDurations(phases: PhaseRecord[]): Record<string, number> {
  const d: Record<string, number> = {};
  for (const p of phases) d[p.phase] = +((d[p.phase] ?? 0) + p.endMs - p.startMs).toFixed(3);
  return d;
}
