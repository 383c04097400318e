// One workload measured with ucr and CRIU, whole command against whole command: the same
// prefault before every timed command of either tool, the two tools alternated run by run
// (ucr first in even runs, CRIU first in odd ones), every restarted workload verified.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { killGroup, runSampled, startWorkload, trackDir, verify, waitGone } from './procs.mjs';

/**
 * The tools of a run: ucr (the CLI through this Node), CRIU (a path, or undefined when it does
 * not work here) and the prefault program with its size (0: none).
 */
export function tools({ ucr, criu, prefault, prefaultMiB }) {
  const before = () => {
    if (prefaultMiB <= 0) return;
    const p = spawnSync(prefault, [String(prefaultMiB)], { stdio: 'ignore' });
    if (p.status !== 0) throw new Error('prefault failed');
  };
  /** One ucr command (with --json): its wall time, the library's own time, peak RSS. */
  const ucrCmd = async (args, exclude) => {
    before();
    const r = await runSampled(ucr, [...args, '--json'], new Set(exclude)); // as typed: bin/ucr through its #! line
    const res = JSON.parse(r.stdout.trim().split('\n').pop());
    return { ...r, res, lib: Math.max(...res.phases.map((p) => p.endMs)) / 1000 };
  };
  const criuCmd = async (args, exclude) => {
    before();
    return runSampled(criu, args, new Set(exclude));
  };
  return { ucrCmd, criuCmd, criu };
}

/** The first line of a failed command's stderr, without the "ucr: " or CRIU's log prefix. */
const reason = (e) => e.message.replace(/^[^:]*: exit \S+: /, '').split('\n')[0].slice(0, 160);

/** A checkpoint --kill and a restart --detach with ucr; a refused checkpoint leaves the tree
 * running (it is killed here) and is recorded as refused. */
async function ucrRound(t, w, dir, dropCache, ckptArgs) {
  const img = path.join(dir, `${w.name}.ucr`);
  let c;
  try {
    c = await t.ucrCmd(['checkpoint', String(w.pid), '-o', img, '--kill', ...ckptArgs], w.pids);
  } catch (e) {
    await killGroup(w);
    await waitGone(w.pids);
    return { refused: reason(e) };
  }
  await waitGone(w.pids);
  if (dropCache) spawnSync('dd', [`if=${img}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
  const r = await t.ucrCmd(['restart', '-i', img, '--detach'], w.pids);
  const image = fs.statSync(img).size;
  await verify(w);
  fs.rmSync(img, { force: true });
  return { checkpoint: c, restart: r, image };
}

/** criu dump (which kills the tree, like ucr's --kill) and criu restore -d (returns once the
 * tree runs, like ucr's --detach); a failure of either is recorded, not fatal. */
async function criuRound(t, w, dir) {
  const img = trackDir(fs.mkdtempSync(path.join(dir, 'criu-')));
  try {
    let d;
    try {
      d = await t.criuCmd(['dump', '-t', String(w.pid), '-D', img], w.pids);
    } catch (e) {
      return { failed: `dump: ${reason(e)}` };
    }
    await waitGone(w.pids);
    let r;
    try {
      r = await t.criuCmd(['restore', '-D', img, '-d'], w.pids);
    } catch (e) {
      return { failed: `restore: ${reason(e)}` };
    }
    await verify(w);
    return { dump: d, restore: r };
  } finally {
    await killGroup(w);
    fs.rmSync(img, { recursive: true, force: true });
  }
}

/**
 * A workload, `runs` times: start it, ucr checkpoint --kill to each target dir and restart
 * from it, then (alternating which tool goes first) the same with CRIU to the first target.
 * Returns lists per figure: checkpoint:<where>, restart:<where>, image, criu:dump,
 * criu:restore, and the reasons of refusals (ucr) and failures (CRIU).
 */
export async function scenario(t, { name, bin, args, pre = [], targets, criu = true, ckptArgs = [], runs, log }) {
  const m = { refused: [], criuFailed: [] };
  const add = (k, v) => (m[k] ??= []).push(v);
  for (let run = 0; run < runs; run++) {
    const order = run % 2 ? ['criu', 'ucr'] : ['ucr', 'criu'];
    for (const tool of order) {
      if (tool === 'ucr') {
        for (const [where, dir, dropCache] of targets) {
          const w = await startWorkload(bin, args, dir, name, pre);
          const r = await ucrRound(t, w, dir, dropCache, ckptArgs);
          if (r.refused) {
            m.refused.push(r.refused);
            log(`bench: ${name} run ${run + 1} ${where}: ucr refused: ${r.refused}`);
            continue;
          }
          add(`checkpoint:${where}`, r.checkpoint);
          add(`restart:${where}`, r.restart);
          add('image', r.image);
          log(`bench: ${name} run ${run + 1} ${where}: ucr checkpoint ${r.checkpoint.wall.toFixed(3)} s (lib ${r.checkpoint.lib.toFixed(3)}), restart ${r.restart.wall.toFixed(3)} s (lib ${r.restart.lib.toFixed(3)}), rss ${r.checkpoint.rssMiB.toFixed(0)}/${r.restart.rssMiB.toFixed(0)} MiB`);
        }
      } else if (t.criu && criu) {
        const w = await startWorkload(bin, args, targets[0][1], name, pre);
        const r = await criuRound(t, w, targets[0][1]);
        if (r.failed) {
          m.criuFailed.push(r.failed);
          log(`bench: ${name} run ${run + 1}: CRIU failed: ${r.failed}`);
          continue;
        }
        add('criu:dump', r.dump);
        add('criu:restore', r.restore);
        log(`bench: ${name} run ${run + 1}: CRIU dump ${r.dump.wall.toFixed(3)} s, restore ${r.restore.wall.toFixed(3)} s`);
      }
    }
  }
  return m;
}

/** Bare start-up: `node -e 0`, `ucr --version` (and `criu --version`), alternated, n times each;
 * with NODE_EXTRA_CA_CERTS set, `node -e 0` without it too (bin/ucr starts Node without it). */
export async function startup(t, ucr, n) {
  const { NODE_EXTRA_CA_CERTS: certs, ...bare } = process.env;
  const cmds = [
    ['node -e 0', process.execPath, ['-e', '0']],
    ...(certs !== undefined ? [['node -e 0 without NODE_EXTRA_CA_CERTS', process.execPath, ['-e', '0'], bare]] : []),
    ['ucr --version', ucr, ['--version']],
    ...(t.criu ? [['criu --version', t.criu, ['--version']]] : []),
  ];
  const out = Object.fromEntries(cmds.map(([k]) => [k, []]));
  for (let i = 0; i < n; i++)
    for (const [k, cmd, args, env] of i % 2 ? [...cmds].reverse() : cmds) out[k].push((await runSampled(cmd, args, undefined, env)).wall);
  return out;
}
