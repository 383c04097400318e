#!/usr/bin/env node
// Rewrites the stage tables of docs/architecture.md (between <!-- stages:checkpoint --> and
// <!-- /stages:checkpoint -->, the same for restart) from the stage table, src/stages.ts (built:
// dist/stages.js). test/layout.test.ts fails when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderStageTable } from '../dist/stages.js';

const file = new URL('../docs/architecture.md', import.meta.url);
let doc = readFileSync(file, 'utf8');
for (const op of ['checkpoint', 'restart']) {
  const re = new RegExp(`(<!-- stages:${op} -->\\n)[\\s\\S]*?(\\n<!-- /stages:${op} -->)`);
  if (!re.test(doc)) throw new Error(`docs/architecture.md: no <!-- stages:${op} --> block`);
  doc = doc.replace(re, (_, a, b) => a + renderStageTable(op) + b);
}
writeFileSync(file, doc);
