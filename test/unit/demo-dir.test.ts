// `ms2m demo --dir X` deleted X and everything in it (issue 7). The demo owns only a directory with its marker,
// and removes only the files it wrote there.
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../adapters/errors.ts';
import { assertDemoDir, DEMO_MARKER, prepareDemoDir } from '../../bin/demo-dir.ts';
import { treeState } from '../support/tree-state.ts';

const scenarios = ['alpha', 'beta'];
const idOf = (s: string) => `default/${s}`;
let root: string;
let n = 0;
const fresh = () => join(root, `case-${++n}`);
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms2m-demo-dir-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * What a demo run leaves behind, including the leftovers of a kill (temp, lock and torn files): log files in the
 * current layout, and those of a demo directory written before kinds (legacy layout).
 */
async function leaveDemoRun(dir: string) {
  await writeFile(join(dir, 'world-alpha.json'), '{}');
  await writeFile(join(dir, 'world-beta.json'), '{}');
  await writeFile(join(dir, '.world-beta.json.4242.0badcafe.tmp'), '{');
  await mkdir(join(dir, 'log'));
  for (const f of [
    'StatefulMigration@default%2Falpha.jsonl',
    'StatefulMigration@default%2Fbeta.jsonl',
    'StatefulMigration@default%2Fbeta.jsonl.lock',
    'StatefulMigration@default%2Fbeta.jsonl.lock.4242.0badcafe.tmp',
    'StatefulMigration@default%2Falpha.jsonl.torn-2026-01-01T00-00-00-000Z',
    'default%2Falpha.jsonl',
    'default%2Fbeta.jsonl.torn-2026-01-01T00-00-00-000Z',
  ]) {
    await writeFile(join(dir, 'log', f), 'x');
  }
}

describe('the demo directory', () => {
  it('is created with the marker when it does not exist (parents too)', async () => {
    const dir = join(fresh(), 'a', 'b');
    expect(await prepareDemoDir(dir, scenarios, idOf)).toBe('created');
    expect(await readdir(dir)).toEqual([DEMO_MARKER]);
    expect(JSON.parse(await readFile(join(dir, DEMO_MARKER), 'utf8'))).toMatchObject({ createdBy: 'ms2m demo' });
    await assertDemoDir(dir);
  });

  it('an empty directory is claimed (marker written), nothing else changes', async () => {
    const dir = fresh();
    await mkdir(dir);
    expect(await prepareDemoDir(dir, scenarios, idOf)).toBe('claimed');
    expect(await readdir(dir)).toEqual([DEMO_MARKER]);
  });

  it.each([
    ['a user file', async (d: string) => writeFile(join(d, 'notes.txt'), 'mine')],
    ['only a demo-looking file', async (d: string) => writeFile(join(d, 'world-alpha.json'), '{}')],
    ['a demo-looking log', async (d: string) => leaveDemoRun(d)],
    ['a hidden file', async (d: string) => writeFile(join(d, '.git'), 'x')],
    ['a symlink', async (d: string) => symlink('/etc', join(d, 'etc'))],
  ])('a non-empty directory without the marker (%s) is refused and left byte for byte', async (_what, fill) => {
    const dir = fresh();
    await mkdir(dir);
    await fill(dir);
    const before = await treeState(dir);
    const err = await prepareDemoDir(dir, scenarios, idOf).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toBe(
      `--dir ${dir}: is not empty and was not created by ms2m demo (no ${DEMO_MARKER} file in it); name a new or empty directory`,
    );
    expect(await treeState(dir)).toEqual(before);
  });

  it('a file is refused', async () => {
    const file = fresh();
    await writeFile(file, 'x');
    await expect(prepareDemoDir(file, scenarios, idOf)).rejects.toThrow(/is not a directory/);
    await expect(prepareDemoDir(join(file, 'sub'), scenarios, idOf)).rejects.toThrow(/is not a directory/);
    expect(await readFile(file, 'utf8')).toBe('x');
  });

  it('a directory with the marker has exactly the files of the earlier run removed; user files stay', async () => {
    const dir = fresh();
    await prepareDemoDir(dir, scenarios, idOf);
    await leaveDemoRun(dir);
    await writeFile(join(dir, 'notes.txt'), 'mine');
    await writeFile(join(dir, 'world-gamma.json'), 'not a scenario of this build');
    await writeFile(join(dir, 'log', 'default%2Fgamma.jsonl'), 'someone else');
    await writeFile(join(dir, 'log', 'VolumeResize@default%2Falpha.jsonl'), 'another kind, same id');
    expect(await prepareDemoDir(dir, scenarios, idOf)).toBe('cleaned');
    expect((await readdir(dir)).sort()).toEqual([DEMO_MARKER, 'log', 'notes.txt', 'world-gamma.json']);
    expect((await readdir(join(dir, 'log'))).sort()).toEqual([
      'VolumeResize@default%2Falpha.jsonl',
      'default%2Fgamma.jsonl',
    ]);
  });

  it('the log sub-directory goes when it held only demo files', async () => {
    const dir = fresh();
    await prepareDemoDir(dir, scenarios, idOf);
    await leaveDemoRun(dir);
    await prepareDemoDir(dir, scenarios, idOf);
    expect(await readdir(dir)).toEqual([DEMO_MARKER]);
  });

  it('a child run needs the marker', async () => {
    const dir = fresh();
    await mkdir(dir);
    await expect(assertDemoDir(dir)).rejects.toThrow(/is not a demo directory/);
    await expect(assertDemoDir(join(dir, 'missing'))).rejects.toThrow(/is not a demo directory/);
  });
});
