/**
 * Which IP family a textual address is written in, as inet_pton(3) reads it (the helper parses
 * an image's addresses with it): 4 for dotted decimal (four numbers of 0-255, no leading zero),
 * 6 for IPv6 text (up to eight groups of 1-4 hex digits, one `::` at most, a dotted IPv4 address
 * as the last two groups), 0 for anything else (a zone such as `%eth0` included). Here rather
 * than node:net's isIP, whose module loads the stream modules (~1.5 ms of every command).
 */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (isIPv4(s)) return 4;
  return isIPv6(s) ? 6 : 0;
}

function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(?:0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

function isIPv6(s: string): boolean {
  if (s.length > 45) return false;
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const groups = (h: string): string[] | undefined => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return false;
  // a dotted IPv4 address may only end it, and counts as two groups
  const end = halves.length === 2 ? tail : head;
  let count = head.length + tail.length;
  const last = end[end.length - 1];
  if (last !== undefined && last.includes('.')) {
    if (!isIPv4(last)) return false;
    end.pop();
    count++;
  }
  const all = [...head, ...tail];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}
