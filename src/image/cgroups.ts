/**
 * cgroup membership in the TREE record (format 1.7, docs/cgroups.md): `cgroups`, the distinct
 * sets of the tree's live tasks, each a list of "KEY:PATH" lines (/proc/PID/cgroup without the
 * hierarchy numbers: KEY "" is the v2 hierarchy, else its v1 controllers or name=X), and each
 * live task's `cgroup`, an index into it. Paths are as ucr saw them (relative to its cgroup
 * namespace's root). Validated here: bounded, absolute, no "." or ".." or empty component, no
 * NUL or control character, one line per hierarchy.
 */
import type { CborValue } from './cbor.js';
import { PATH_BYTES_MAX, Where, arr, str } from './check.js';

/** distinct sets in an image (a tree's tasks share few) */
export const CGROUP_SETS_MAX = 4096;
/** hierarchies in a set (v1 controllers, named hierarchies and v2) */
export const CGROUP_LINES_MAX = 64;
/** the mount point and this path, with "/cgroup.procs", fit in PATH_MAX */
export const CGROUP_PATH_MAX = 2048;

/** One line: its hierarchy (KEY) and the cgroup's path in it. */
export function cgroupLine(line: string): { key: string; path: string } {
  const c = line.indexOf(':');
  return { key: line.slice(0, c), path: line.slice(c + 1) };
}

const TOKEN = /^(?:[a-z0-9_]{1,32}|name=[A-Za-z0-9_.-]{1,64})$/;

/** Why a KEY:PATH line cannot be acted on, or undefined. */
export function badCgroupLine(line: string): string | undefined {
  const c = line.indexOf(':');
  if (c < 0) return 'no ":" between hierarchy and path';
  const { key, path } = cgroupLine(line);
  if (key !== '' && !key.split(',').every((t) => TOKEN.test(t))) return `hierarchy ${JSON.stringify(key)} is not a list of controllers or name=X`;
  if (!path.startsWith('/')) return 'the path is not absolute';
  if (Buffer.byteLength(path) > CGROUP_PATH_MAX) return `path longer than ${CGROUP_PATH_MAX} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) return 'the path holds a NUL or control character';
  if (path !== '/' && path.slice(1).split('/').some((p) => p === '' || p === '.' || p === '..')) return 'the path has an empty, "." or ".." component';
  return undefined;
}

/** The image's `cgroups` (sets of lines), checked. */
export function checkCgroupSets(v: CborValue | undefined, w: Where): string[][] {
  return arr(v, w, CGROUP_SETS_MAX).map((s, i) => {
    const sw = w.at(i);
    const keys = new Set<string>();
    const lines = arr(s, sw, CGROUP_LINES_MAX).map((l, j) => {
      const line = str(l, sw.at(j), PATH_BYTES_MAX);
      const bad = badCgroupLine(line);
      if (bad) sw.at(j).fail(bad);
      const { key } = cgroupLine(line);
      if (keys.has(key)) sw.at(j).fail(`hierarchy ${key || 'v2'} appears twice`);
      keys.add(key);
      return line;
    });
    if (!lines.length) sw.fail('an empty set');
    return lines;
  });
}
