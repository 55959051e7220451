// The snapshot cache on disk is a cache: an entry is used only when it is intact, anything else is ignored with a
// warning (the stream is folded from the log), and reading it never writes (issue 7). Entries are keyed like the
// log by (kind, id) (issue 8).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEntry, openFileSnapshotCache } from '../../adapters/snapshot-cache/file.ts';
import type { CachedSnapshot } from '../../adapters/snapshot-cache/port.ts';
import { treeState } from '../support/tree-state.ts';

let root: string;
let n = 0;
const freshDir = () => join(root, `case-${++n}`);
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms2m-snapshot-cache-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const KIND = 'StatefulMigration';
const entry = (id: string, seq = 7, kind = KIND): CachedSnapshot => ({
  kind,
  id,
  seq,
  lastAt: '2026-01-01T00:00:07.000Z',
  machineVersion: 1,
  chart: 'abc123',
  status: 'done',
  value: 'Completed',
  persisted: { context: { note: 'ünï ✓' } },
});

function captured() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

describe('file snapshot cache', () => {
  it('round-trips entries; opening and reading a missing directory creates nothing; the first put creates it', async () => {
    const dir = freshDir();
    const cache = await openFileSnapshotCache({ dir });
    expect(await cache.getMany(KIND, ['default/a'])).toEqual(new Map());
    expect(await readdir(root)).not.toContain(dir.slice(root.length + 1));
    await cache.put(entry('default/a'));
    await cache.put(entry('.hidden/b'));
    expect(await cache.getMany(KIND, ['default/a', '.hidden/b', 'default/none'])).toEqual(
      new Map([
        ['default/a', entry('default/a')],
        ['.hidden/b', entry('.hidden/b')],
      ]),
    );
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps two kinds with the same id apart', async () => {
    const dir = freshDir();
    const cache = await openFileSnapshotCache({ dir });
    await cache.put(entry('default/a', 7));
    await cache.put(entry('default/a', 3, 'VolumeResize'));
    expect((await cache.getMany(KIND, ['default/a'])).get('default/a')).toEqual(entry('default/a', 7));
    expect((await cache.getMany('VolumeResize', ['default/a'])).get('default/a')).toEqual(
      entry('default/a', 3, 'VolumeResize'),
    );
    expect((await readdir(dir)).sort()).toEqual([
      'StatefulMigration@default%2Fa.json',
      'VolumeResize@default%2Fa.json',
    ]);
  });

  const damage: Array<[string, (bytes: string) => string | Buffer, RegExp]> = [
    ['an older plain-JSON entry', (b) => b.slice(b.indexOf('\n') + 1), /not in the ms2m-snapshot-cache\/2 format/],
    [
      'an entry of format 1 (keyed by migration id)',
      (b) => b.replace('ms2m-snapshot-cache/2', 'ms2m-snapshot-cache/1'),
      /not in the ms2m-snapshot-cache\/2 format/,
    ],
    ['a truncated entry', (b) => b.slice(0, -10), /does not match its sha256/],
    ['an empty file', () => '', /not in the ms2m-snapshot-cache\/2 format/],
    ['an edited value', (b) => b.replace('"Completed"', '"Failed"'), /does not match its sha256/],
    ['a forged digest over bad JSON', () => forge('{"kind":'), /not UTF-8 JSON/],
    ['a forged digest over invalid UTF-8', () => forge(Buffer.from([0x7b, 0xff, 0x7d])), /not UTF-8 JSON/],
    [
      'an entry of another migration',
      () => forge(JSON.stringify(entry('default/other'))),
      /names "StatefulMigration" "default\/other"/,
    ],
    [
      'an entry of another kind',
      () => forge(JSON.stringify(entry('default/a', 7, 'VolumeResize'))),
      /names "VolumeResize"/,
    ],
    ['an entry without a seq', () => forge(JSON.stringify({ ...entry('default/a'), seq: '7' })), /seq/],
    [
      'an entry without persisted',
      () => forge(JSON.stringify({ ...entry('default/a'), persisted: undefined })),
      /missing/,
    ],
  ];
  it.each(damage)('%s is ignored with a warning and left as it is', async (_what, change, problem) => {
    const dir = freshDir();
    const cache = await openFileSnapshotCache({ dir });
    await cache.put(entry('default/a'));
    await cache.put(entry('default/b'));
    const file = join(dir, 'StatefulMigration@default%2Fa.json');
    await writeFile(file, change(await readFile(file, 'utf8')));
    const before = await treeState(dir);
    const { logger, lines } = captured();
    const reader = await openFileSnapshotCache({ dir, logger });
    const got = await reader.getMany(KIND, ['default/a', 'default/b']);
    expect([...got.keys()]).toEqual(['default/b']);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        file,
        kind: KIND,
        id: 'default/a',
        problem: expect.stringMatching(problem),
        msg: expect.stringContaining('folded from the event log instead'),
      }),
    ]);
    expect(await treeState(dir)).toEqual(before);
  });

  it.each([
    ['a FIFO', (p: string) => spawnSync('mkfifo', [p])],
    ['a directory', (p: string) => mkdir(p)],
  ])('an entry path that is %s is ignored without being opened (no hang)', async (_what, make) => {
    const dir = freshDir();
    await mkdir(dir);
    await make(join(dir, 'StatefulMigration@default%2Fa.json'));
    const { logger, lines } = captured();
    const cache = await openFileSnapshotCache({ dir, logger });
    expect(await cache.getMany(KIND, ['default/a'])).toEqual(new Map());
    expect(lines).toEqual([expect.objectContaining({ problem: 'it is not a regular file' })]);
  });

  it('a put over a damaged entry replaces it with an intact one', async () => {
    const dir = freshDir();
    const cache = await openFileSnapshotCache({ dir });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'StatefulMigration@default%2Fa.json'), 'garbage');
    await cache.put(entry('default/a', 9));
    expect((await cache.getMany(KIND, ['default/a'])).get('default/a')?.seq).toBe(9);
  });
});

/** An entry file whose digest matches a body that is not a valid entry (what only a deliberate edit makes). */
function forge(body: string | Buffer): Buffer {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const valid = encodeEntry(entry('default/x'));
  const header = valid.slice(0, valid.indexOf('sha256:') + 7);
  const digest = createHash('sha256').update(bytes).digest('hex');
  return Buffer.concat([Buffer.from(`${header}${digest}\n`), bytes]);
}
