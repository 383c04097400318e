/**
 * A time as Date's toISOString writes it (UTC, milliseconds), from its UTC fields: the first
 * toISOString of a process sets up V8's time zone cache (/etc/localtime, ~0.15 ms of every
 * command) although the text is UTC.
 */
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

export function isoTime(ms: number = Date.now()): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  // toISOString's six-digit signed years: left to it (never the clock's)
  if (!(y >= 0 && y <= 9999)) return d.toISOString();
  return `${pad(y, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}Z`;
}
