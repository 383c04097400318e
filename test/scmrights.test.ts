import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, roundTrip, startCase, ucr, verdict } from './harness.js';
import { editFiles, expectEditsRefused } from './image-edit.js';

/** What stays unsupported: one line at checkpoint, no image, the process untouched. */
async function refused(name: string, args: string[], re: RegExp): Promise<void> {
  const c = await startCase(name, { args });
  const img = path.join(c.dir, 'image.ucr');
  const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(re);
  expect(fs.existsSync(img)).toBe(false);
  expect(await verdict(c)).toBe('PASS');
}

afterEach(cleanup);

describe('file descriptors in flight (SCM_RIGHTS)', () => {
  for (const type of ['stream', 'dgram', 'seqpacket'])
    it(`a ${type} queue: plain messages and messages carrying a pipe end, a file at an offset, an eventfd, both ends of a unix pair (one holding an eventfd in flight itself), a memfd and a task's own pipe end come back in order, each with its descriptors, and each works`, async () => {
      const { verdict } = await roundTrip('scmrights', { args: ['--type', type] });
      expect(verdict).toBe('PASS');
    });

  it('an epoll held only in flight: its registrations (one at a number closed since) come back keyed by their numbers, made by the task that holds each target; both messages carry the one epoll', async () => {
    const { verdict } = await roundTrip('scmepoll');
    expect(verdict).toBe('PASS');
  });

  it('refuses an epoll in flight whose target is held only in flight too, with one line, and leaves the process running', () =>
    refused('scmepoll', ['--lost'], /an epoll in flight in a unix socket's queue: target fd \d+ was closed by every task and its file is held by no fd of the tree \(the registration outlives it\): not supported/));

  it('refuses a file of /proc in flight with one line, and leaves the process running', () =>
    refused('scmrights', ['--proc', 'status'], /a file in flight in socket:\[\d+\] \(\/proc\/\d+\/status\): a file of \/proc in flight in a unix socket's queue: not supported yet/));
});

describe('unix socket names', () => {
  it('names bound relative to the working directory: getsockname/getpeername give them as bound, queued data arrives, a new client connects by the relative name', async () => {
    const { verdict } = await roundTrip('unixnames', { args: ['--relative'] });
    expect(verdict).toBe('PASS');
  });

  it('a listener whose socket file was replaced by another listener, a socket whose file was replaced by a regular file, one whose file was removed: the names stay, connecting by path reaches what is there now, the other file is untouched', async () => {
    const { verdict } = await roundTrip('unixnames', { args: ['--replaced'] });
    expect(verdict).toBe('PASS');
  });

  it('refuses a relative name that the working directory no longer leads to, with one line', () =>
    refused('unixnames', ['--moved'], /unix socket bound to the relative path "moved.sock", which the working directory of no holder resolves to it \(removed, or bound in another directory\): not supported yet/));
});

describe('validation of the new fields (images are untrusted)', () => {
  it('names the field of files in flight that are not files of the image, or a directory for a name that is not relative', async () => {
    const c = await startCase('scmrights', { args: ['--type', 'seqpacket'] });
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    expect(await verdict(c)).toBe('PASS'); // the checkpoint left it undisturbed
    const good = fs.readFileSync(img);
    type F = { kind: string; id: number; unix?: Record<string, any> };
    const edit = (f: (files: F[]) => void) => editFiles<F>(good, path.join(c.dir, 'mut.ucr'), f);
    const carrier = (files: F[]) => files.find((f) => f.unix?.rights)!.unix!;
    expectEditsRefused<F[]>(
      [
        ['rights id', (fs) => (carrier(fs).rights[1] = [99999]), /rights\[1\]\[0\]: corrupt image: not another open file of the image/],
        ['rights count', (fs) => carrier(fs).rights.pop(), /rights: .*one list of files in flight per queued message/],
        ['rights shape', (fs) => (carrier(fs).rights[1] = new Array(254).fill(0)), /rights\[1\]: corrupt image: more than 253 entries/],
        ['dir', (fs) => (carrier(fs).dir = '/tmp'), /dir: .*an absolute directory, exactly for a name that is a relative path/],
      ],
      edit,
    );
  });
});
