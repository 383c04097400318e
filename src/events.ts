/** Typed progress and phase events of a checkpoint or restart (eventemitter3). */
import { EventEmitter } from 'eventemitter3';

export interface PhaseRecord {
  phase: string;
  pid?: number;
  startMs: number;
  endMs: number;
}

export interface UcrEvents {
  'phase-start': (e: { phase: string; pid?: number; atMs: number }) => void;
  'phase-end': (e: PhaseRecord) => void;
  progress: (e: { bytesDone: number; bytesTotal: number }) => void;
  warning: (e: { message: string; pid?: number }) => void;
}

export class UcrEmitter extends EventEmitter<UcrEvents> {}

/** Times phases against one origin and emits them; the list ends up in results. */
export class PhaseClock {
  readonly origin = performance.now();
  readonly phases: PhaseRecord[] = [];
  constructor(private readonly events?: UcrEmitter) {}

  async run<T>(phase: string, fn: () => T | Promise<T>, pid?: number): Promise<T> {
    const startMs = performance.now() - this.origin;
    this.events?.emit('phase-start', { phase, pid, atMs: startMs });
    try {
      return await fn();
    } finally {
      const rec = { phase, pid, startMs, endMs: performance.now() - this.origin };
      this.phases.push(rec);
      this.events?.emit('phase-end', rec);
    }
  }
}
