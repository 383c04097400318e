import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without types
import { analyse, folderCycles, folderOf } from '../scripts/check-native-deps.mjs';
import { CHECKPOINT_PHASES, RESTART_PHASES } from '../src/events.js';
import { CHECKPOINT_STAGES, RESTART_STAGES, renderStageTable } from '../src/stages.js';

type Analysis = { folderEdges: Map<string, string[]>; globalsShared: { name: string; file: string; users: string[] }[] };

describe('native/helper layout', () => {
  const a = analyse() as Analysis;

  it('no folder calls into a folder that calls back into it (the graph of the built object files)', () => {
    expect(folderCycles(a)).toEqual([]);
  });

  it('core, inject and stream call nothing above them; checkpoint/ and restore/ reach the kinds only through their ops tables', () => {
    const up: Record<string, string[]> = {
      core: ['inject', 'stream', 'plan', 'checkpoint', 'restore', 'kinds', '.'],
      inject: ['stream', 'plan', 'checkpoint', 'restore', 'kinds', '.'],
      stream: ['plan', 'checkpoint', 'restore', 'kinds', '.'],
      checkpoint: ['restore', 'kinds', '.'],
      restore: ['checkpoint', 'kinds', '.'],
    };
    const bad: string[] = [];
    for (const [key, uses] of a.folderEdges) {
      const [from, to] = key.split(' -> ');
      if (up[from]?.some((u) => to === u || to.startsWith(`${u}/`))) bad.push(...uses);
    }
    expect(bad).toEqual([]);
  });

  it('folders are read from paths: kinds/<kind> each, the plan decoder as one layer, main.c on top', () => {
    expect(folderOf('/x/native/helper/kinds/inet/restore_inet.c'.replace('/x', process.cwd()))).toBe('kinds/inet');
    expect(folderOf(`${process.cwd()}/native/helper/kinds/inet/plan_inet.c`)).toBe('plan');
    expect(folderOf(`${process.cwd()}/native/helper/main.c`)).toBe('.');
  });

  it('checkpoint/ shares no mutable global with other files', () => {
    expect(a.globalsShared.filter((g) => g.file.startsWith('checkpoint/') || g.users.some((u) => u.startsWith('checkpoint/')))).toEqual([]);
  });
});

describe('stage table', () => {
  it('the phases the code times are the stage table, in its order', () => {
    expect(CHECKPOINT_PHASES).toEqual(CHECKPOINT_STAGES.map((s) => s.name));
    expect(RESTART_PHASES).toEqual(RESTART_STAGES.map((s) => s.name));
    for (const stages of [CHECKPOINT_STAGES, RESTART_STAGES] as const) {
      const names = stages.map((s) => s.name as string);
      expect(new Set(names).size).toBe(names.length);
      for (const s of stages) if ('within' in s) expect(names.indexOf(s.within)).toBeLessThan(names.indexOf(s.name));
    }
  });

  it("docs/architecture.md's phase tables are the stage table (npm run docs:stages rewrites them)", () => {
    const doc = readFileSync(new URL('../docs/architecture.md', import.meta.url), 'utf8');
    for (const op of ['checkpoint', 'restart'] as const) {
      const m = new RegExp(`<!-- stages:${op} -->\\n([\\s\\S]*?)\\n<!-- /stages:${op} -->`).exec(doc);
      expect(m, `docs/architecture.md has no <!-- stages:${op} --> block`).not.toBeNull();
      expect(m![1]).toBe(renderStageTable(op));
    }
  });
});
