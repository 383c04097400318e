/**
 * ucr as a library: checkpoint a running process to an image stream, restart it from one,
 * inspect an image.
 *
 *   import { checkpoint, restart, inspect } from 'ucr';
 *   await checkpoint(1234, { output: '/tmp/app.img' });          // the process runs on
 *   const r = await restart({ input: '/tmp/app.img', detach: true });
 */
export { checkpoint, type CheckpointOptions, type CheckpointResult } from './orchestrator/checkpoint.js';
export { restart, type RestartOptions, type RestartResult } from './orchestrator/restart.js';
export { inspect, type InspectOptions, type InspectResult } from './orchestrator/inspect.js';
export { UcrEmitter, type UcrEvents, type PhaseRecord } from './events.js';
export {
  UcrError,
  ImageError,
  HostMismatchError,
  PidInUseError,
  PermissionError,
  UnsupportedError,
  RestoreError,
  CheckpointError,
} from './errors.js';
export type * from './image/types.js';
export { FORMAT_MAJOR, FORMAT_MINOR } from './image/format.js';
export { VERSION } from './version.js';
