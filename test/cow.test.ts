/** The copy-on-write layout of an image (src/image/cow.ts): which pages are staged where, the
 * order of the PAGES stream, and what the reader refuses. Pure functions, no process. */
import { describe, expect, it } from 'vitest';
import { cowLayout, creationOrder, inheritedProblem, subtract } from '../src/image/cow.js';
import type { TaskImage, TreeEntry, VmaImage } from '../src/image/types.js';

const P = 4096;
const vma = (start: number, pages: number, kind: VmaImage['kind'] = 'anon', over: Partial<VmaImage> = {}): VmaImage => ({
  start,
  end: start + pages * P,
  prot: 3,
  shared: false,
  kind,
  pgoff: 0,
  madv: 0,
  fill: true,
  ...over,
});
const task = (pid: number, vmas: VmaImage[], pageRuns: [number, number][], inherited?: [number, number][]): TaskImage =>
  ({ pid, vmas, pageRuns, ...(inherited ? { inherited } : {}) }) as unknown as TaskImage;
const entry = (pid: number, ppid: number): TreeEntry => ({ pid, ppid, pgid: 10, sid: 10, comm: 'x', state: 'running', threads: 1 }) as TreeEntry;

const A = 0x10000000; // a 16-page mapping every task has
const S = 0x20000000; // a mapping of the parent only
// parent 10 (children 20, 30), grandchild 21 of 20
const tree = [entry(10, 1), entry(20, 10), entry(30, 10), entry(21, 20)];
const tasks = (): TaskImage[] => [
  task(10, [vma(A, 16), vma(S, 4)], [[A, 16], [S, 4]]),
  // 20: wrote pages 0-1 after its fork, page 15 is a hole; shares 2-14
  task(20, [vma(A, 16)], [[A, 2]], [[A + 2 * P, 13]]),
  task(30, [vma(A, 16)], [], [[A, 16]]),
  // 21: shares 0-5 with 20 (20's own 0-1 among them), wrote 6
  task(21, [vma(A, 16)], [[A + 6 * P, 1]], [[A, 6]]),
];

describe('copy-on-write layout', () => {
  it('run arithmetic', () => {
    expect(subtract([[0, 10]], [[P, 2], [5 * P, 1]])).toEqual([[0, 1], [3 * P, 2], [6 * P, 4]]);
    expect(subtract([[0, 4]], [[0, 4]])).toEqual([]);
    expect(subtract([[0, 4], [8 * P, 2]], [[2 * P, 8]])).toEqual([[0, 2]]);
  });

  it('creation order: depth first, children in pid order, orphans after the root', () => {
    expect(creationOrder(tasks(), tree)).toEqual([0, 1, 3, 2]);
    const orphan = [...tree, entry(40, 99), entry(41, 40)];
    const t = [...tasks(), task(40, [], []), task(41, [], [])];
    expect(creationOrder(t, orphan)).toEqual([0, 1, 3, 2, 4, 5]);
  });

  it('parents stage what children share; children move it into place, drop what they lack; staged runs first, in creation order', () => {
    const l = cowLayout(tasks(), tree);
    const p = l.tasks.get(0)!;
    expect(p.areas).toEqual([[P, 16 * P, 0x22, 0]]); // only A: nobody inherits from S
    expect(p.moves).toEqual([[P, A, 16 * P]]);
    expect(p.zaps).toEqual([]);
    const c = l.tasks.get(1)!;
    expect(c.areas).toEqual([]); // its mapping came from the parent's window range
    expect(c.moves).toEqual([[P, A, 16 * P]]);
    expect(c.zaps).toEqual([[A + 15 * P, 1]]);
    expect(l.tasks.get(3)!.zaps).toEqual([[A + 7 * P, 9]]);
    expect(l.tasks.get(2)!.zaps).toEqual([]);
    expect(l.stream).toEqual([
      { task: 0, runs: [[A, 16]], offsets: [P] }, // the parent's staged pages
      { task: 1, runs: [[A, 2]], offsets: [P] }, // 20's own, which 21 shares: before 21 exists
      { task: 0, runs: [[S, 4]] },
      { task: 1, runs: [] },
      { task: 2, runs: [] },
      { task: 3, runs: [[A + 6 * P, 1]] },
    ]);
  });

  it('a private file mapping is staged as a mapping of its file; a child inherits only from the same file at the same offsets', () => {
    const file = (start: number, pages: number, pgoff: number, ino = 7) => vma(start, pages, 'file', { path: '/data', pgoff, file: { size: 1, mtimeMs: 1, ino, dev: 1 } });
    const t = [task(10, [file(A, 16, 0)], [[A, 16]]), task(20, [file(A + 4 * P, 8, 4 * P)], [], [[A + 4 * P, 8]])];
    const two = [entry(10, 1), entry(20, 10)];
    expect(inheritedProblem(t, two)).toBeUndefined();
    const l = cowLayout(t, two);
    expect(l.tasks.get(0)!.areas).toEqual([[P, 16 * P, 0x02, A]]); // MAP_PRIVATE, the file of the mapping at A
    expect(l.tasks.get(1)!.moves).toEqual([[5 * P, A + 4 * P, 8 * P]]);
    for (const other of [file(A + 4 * P, 8, 0), file(A + 4 * P, 8, 4 * P, 8), vma(A + 4 * P, 8)]) {
      const u = [t[0]!, task(20, [other], [], [[A + 4 * P, 8]])];
      expect(inheritedProblem(u, two)).toMatch(/lie outside a mapping its parent's was forked from/);
    }
  });

  it('an image without inherited pages keeps the plain order', () => {
    const t = tasks().map((x) => ({ ...x, inherited: undefined }));
    expect(cowLayout(t, tree).stream.map((s) => s.task)).toEqual([0, 1, 2, 3]);
    expect(cowLayout(t, tree).tasks.size).toBe(0);
  });

  it('the reader refuses inherited pages that cannot be', () => {
    expect(inheritedProblem(tasks(), tree)).toBeUndefined();
    const noParent = tasks();
    expect(inheritedProblem(noParent, [entry(10, 1), entry(20, 5), entry(30, 10), entry(21, 20)])).toMatch(/process 20: pages inherited from a parent that is not a live task/);
    const stack = tasks();
    stack[2]!.vmas = [vma(A, 16, 'stack')];
    expect(inheritedProblem(stack, tree)).toMatch(/process 30: inherited pages 0x10000000\+16 lie outside a mapping its parent's was forked from/);
    const wider = tasks();
    wider[2]!.vmas = [vma(A, 17)];
    expect(inheritedProblem(wider, tree)).toMatch(/process 30: inherited pages/);
    const twice = tasks();
    twice[2]!.pageRuns = [[A, 1]];
    expect(inheritedProblem(twice, tree)).toMatch(/process 30: inherited pages are also saved as its own/);
    const shared = tasks();
    shared[0]!.vmas[0] = vma(A, 16, 'anon', { shared: true });
    expect(inheritedProblem(shared, tree)).toMatch(/lie outside a mapping its parent's was forked from/);
  });
});
