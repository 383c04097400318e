/**
 * timerfd: clock, expirations not yet read, interval and time left (fdinfo). The helper
 * recreates it armed relative to the restart and sets the pending expirations
 * (TFD_IOC_SET_TICKS). params: [clock, ticks, interval s, ns, value s, ns]
 */
import type { FileOf } from '../../image/types.js';
import { ALARM_CLOCKS } from '../timers.js';
import type { FdOps } from './types.js';
import { planFileTimerfd } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

function pair(v: string | undefined): [number, number] {
  const m = /\((\d+),\s*(\d+)\)/.exec(v ?? '');
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export const timerFd: FdOps<FileOf<'timerfd'>> = {
  kind: 'timerfd',
  matches: (f) => f.link === 'anon_inode:[timerfd]',
  dump: (f) => {
    const x = f.info.extra; // it_value is the time left even for TFD_TIMER_ABSTIME timers
    return {
      path: f.link,
      flags: f.info.flags,
      pos: 0,
      params: [Number(x.get('clockid') ?? 1), Number(x.get('ticks') ?? 0), ...pair(x.get('it_interval')), ...pair(x.get('it_value'))],
    };
  },
  check() {},
  privilege: (file) =>
    ALARM_CLOCKS.has(Number(file.params[0]))
      ? { who: `file ${file.id} (timerfd)`, what: `on an alarm clock (${file.params[0]}), which needs CAP_WAKE_ALARM` }
      : undefined,
  plan: (file) => {
    const [clock, ticks, isec, insec, vsec, vnsec] = file.params;
    return planFileTimerfd({ id: file.id, clock: clock!, flags: openFileFlags(file.flags), ticks: ticks!, isec: isec!, insec: insec!, vsec: vsec!, vnsec: vnsec! });
  },
};
