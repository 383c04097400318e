/**
 * ucr as a library: checkpoint a running process tree to an image stream, restart it from one,
 * inspect an image. The CLI (src/cli/main.ts) is built on exactly this API.
 *
 *   import { checkpoint, restart, inspect, UcrEmitter } from 'ucr';
 *   const events = new UcrEmitter();
 *   events.on('phase-end', (p) => console.log(p.phase, p.pid, p.endMs - p.startMs));
 *   await checkpoint(1234, { output: '/tmp/app.img', events });   // the process runs on
 *   const r = await restart({ input: '/tmp/app.img', detach: true, signal: AbortSignal.timeout(30_000) });
 *   console.log(r.pids, r.durations);
 *
 * Every failure is a UcrError subclass carrying code, pid, phase, object, syscall and errno
 * where they apply.
 */
export { checkpoint, type CheckpointOptions, type CheckpointResult } from './orchestrator/checkpoint.js';
export { restart, type RestartOptions, type RestartResult, type SkipMemory } from './orchestrator/restart.js';
export { inspect, type InspectOptions, type InspectResult } from './orchestrator/inspect.js';
export type { TimerPolicy } from './kernel/timers.js';
export type { ActionContext, ActionHook, ActionName } from './orchestrator/actions.js';
export { NOTIFY_CHECKPOINT, NOTIFY_RESTARTED } from './orchestrator/notify.js';
export { RESTARTED_EXIT_STATUS } from './orchestrator/self.js';
export {
  UcrEmitter,
  CHECKPOINT_PHASES,
  RESTART_PHASES,
  phaseDurations,
  type UcrEvents,
  type PhaseRecord,
  type PhaseStart,
  type ProgressEvent,
  type WarningEvent,
  type ExternalStdioEvent,
  type Phase,
  type CheckpointPhase,
  type RestartPhase,
  type Operation,
} from './events.js';
export { toChromeTrace, parseTrace, traceTable, type ChromeTrace, type TraceEvent, type TraceRow } from './trace.js';
export { CHECKPOINT_STAGES, RESTART_STAGES, type Stage, type StageRunner } from './stages.js';
export { createLogger, type Logger, type LogOptions } from './log.js';
export {
  UcrError,
  ImageError,
  HostMismatchError,
  PidInUseError,
  PermissionError,
  UnsupportedError,
  RestoreError,
  CheckpointError,
  ActionError,
  AbortedError,
  type UcrErrorDetails,
} from './errors.js';
export type * from './image/types.js';
export { FORMAT_MAJOR, FORMAT_MINOR } from './image/format.js';
export { VERSION } from './version.js';
