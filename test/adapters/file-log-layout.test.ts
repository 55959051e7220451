// One runtime for every chart (issue 8 §1): the file log keys streams by (kind, id), one file per stream,
// `<kind>@<encoded id>.jsonl`. A directory written before kinds existed holds `<encoded id>.jsonl` files of
// legacy envelopes ({migrationId, ...}); they are migrations, read as kind StatefulMigration, and appends
// continue them in their own file and format. These tests use a directory holding both layouts.
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { parseLog } from '../../actors/event-schema.ts';
import { CorruptEventError } from '../../adapters/event-log/port.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { openFileLogReader } from '../../adapters/file-log/file-log-reader.ts';
import { fileNameOf, legacyFileNameOf, streamOfFileName } from '../../adapters/file-log/jsonl.ts';
import { type EventEnvelope, keyText, type NewEvent, type StreamKey } from '../../machines/envelope.ts';
import { fold } from '../../machines/fold.ts';
import { MIGRATION_KIND } from '../../machines/migration-chart.ts';

const silent = pino({ level: 'silent' });
const goldenDir = join(import.meta.dirname, '../golden');
let root: string;
let n = 0;
const freshDir = async () => {
  const dir = join(root, `case-${++n}`);
  await mkdir(dir);
  return dir;
};
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms2m-file-log-layout-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const migration = (id: string): StreamKey => ({ kind: MIGRATION_KIND, id });
const event = (type: string, data: unknown = {}): NewEvent => ({
  type,
  at: '2026-03-16T10:00:00.000Z',
  machineVersion: 1,
  data,
});

/** A directory of both layouts: the sequential golden log (legacy, as an earlier version left it) and new logs. */
async function mixedDir() {
  const dir = await freshDir();
  const golden = await readFile(join(goldenDir, 'sequential.jsonl'), 'utf8');
  const legacyId = JSON.parse(golden.slice(0, golden.indexOf('\n'))).migrationId as string;
  const legacyFile = join(dir, legacyFileNameOf(legacyId));
  await writeFile(legacyFile, golden);
  const log = await openFileLog({ dir, logger: silent, fsync: false });
  const fresh = migration('default/m2');
  const sameIdOtherKind = { kind: 'VolumeResize', id: legacyId };
  for (let i = 0; i < 3; i++) await log.append(fresh, event('E', { i }), i);
  for (let i = 0; i < 2; i++) await log.append(sameIdOtherKind, event('R', { i }), i);
  return { dir, log, golden, legacyId, legacyFile, count: golden.trimEnd().split('\n').length, fresh, sameIdOtherKind };
}

describe('file names: one namespace per kind, legacy names read as StatefulMigration', () => {
  it.each([
    ['StatefulMigration@default%2Fm1.jsonl', { kind: 'StatefulMigration', id: 'default/m1' }, 'current'],
    ['VolumeResize@default%2Fm1.jsonl', { kind: 'VolumeResize', id: 'default/m1' }, 'current'],
    ['VolumeResize@a%40b.jsonl', { kind: 'VolumeResize', id: 'a@b' }, 'current'],
    ['default%2Fm1.jsonl', { kind: 'StatefulMigration', id: 'default/m1' }, 'legacy'],
    ['%2E.jsonl', { kind: 'StatefulMigration', id: '.' }, 'legacy'],
    ['notes.jsonl', { kind: 'StatefulMigration', id: 'notes' }, 'legacy'],
  ])('%s holds %j (%s layout)', (name, key, format) => {
    expect(streamOfFileName(name)).toEqual({ name, key, format });
    expect(format === 'current' ? fileNameOf(key) : legacyFileNameOf(key.id)).toBe(name);
  });

  it.each([
    ['not a log', 'notes.txt'],
    ['a lock file', 'StatefulMigration@default%2Fm1.jsonl.lock'],
    ['a torn sidecar', 'default%2Fm1.jsonl.torn-2026-01-01T00-00-00-000Z'],
    ['a kind that is not a kind name', 'stateful.migration@x.jsonl'],
    ['an empty id', 'VolumeResize@.jsonl'],
    ['a bad escape', 'VolumeResize@%zz.jsonl'],
  ])('%s (%s) is no stream', (_what, name) => {
    expect(streamOfFileName(name)).toBeUndefined();
  });

  it('a legacy id can never be read as a kind and id: encoded ids hold no raw @', () => {
    for (const id of ['VolumeResize@x', 'a@b/c', '@']) {
      const name = legacyFileNameOf(id);
      expect(name).not.toContain('@');
      expect(streamOfFileName(name)?.key).toEqual(migration(id));
    }
  });
});

describe('a directory holding both layouts', () => {
  it('lists, reads and reads all of every stream; legacy events come back upcast and fold to the recorded snapshot', async () => {
    const { dir, log, legacyId, count, fresh, sameIdOtherKind } = await mixedDir();
    const reader = await openFileLogReader({ dir, logger: silent });
    expect(await reader.list()).toEqual([migration(legacyId), fresh, sameIdOtherKind]);
    expect(await reader.list(MIGRATION_KIND)).toEqual([migration(legacyId), fresh]);
    expect(await reader.list('VolumeResize')).toEqual([sameIdOtherKind]);

    const legacy = await reader.read(migration(legacyId));
    expect(legacy).toHaveLength(count);
    for (const e of legacy) {
      expect(Object.keys(e)).toEqual(['kind', 'id', 'seq', 'type', 'at', 'machineVersion', 'data']);
      expect(e).toMatchObject({ kind: MIGRATION_KIND, id: legacyId });
    }
    const final = fold(migrationChart, legacyId, parseLog(migrationChart, legacy, legacyId))!;
    const recorded = JSON.parse(await readFile(join(goldenDir, 'sequential.snapshot.json'), 'utf8'));
    expect({ value: final.value, context: JSON.parse(JSON.stringify(final.context)) }).toEqual(recorded);

    expect((await reader.read(sameIdOtherKind)).map((e) => e.type)).toEqual(['R', 'R']);
    const all = new Map<string, number>();
    for await (const e of reader.readAll()) all.set(keyText(e), e.seq);
    expect(Object.fromEntries(all)).toEqual({
      [keyText(migration(legacyId))]: count,
      [keyText(fresh)]: 3,
      [keyText(sameIdOtherKind)]: 2,
    });
    await reader.close();
    await log.close();
  });

  it('an append to a legacy migration continues its file in the legacy format; nothing is moved or created', async () => {
    const { dir, log, golden, legacyId, legacyFile, count } = await mixedDir();
    const namesBefore = (await readdir(dir)).sort();
    expect(log.locate(migration(legacyId))).toBe(legacyFile);
    const stored = await log.append(migration(legacyId), event('Later', { n: 1 }), count);
    expect(stored).toEqual({ kind: MIGRATION_KIND, id: legacyId, seq: count + 1, ...event('Later', { n: 1 }) });
    await log.close();
    const after = await readFile(legacyFile, 'utf8');
    expect(after.startsWith(golden)).toBe(true); // every old byte kept
    const line = after.slice(golden.length);
    expect(line).toBe(`${JSON.stringify({ migrationId: legacyId, seq: count + 1, ...event('Later', { n: 1 }) })}\n`);
    expect((await readdir(dir)).sort()).toEqual(namesBefore);
    const reader = await openFileLogReader({ dir, logger: silent });
    expect((await reader.read(migration(legacyId))).at(-1)).toEqual(stored);
    await reader.close();
  });

  it('a retry after a lost ack on a legacy file is recognised by the canonical event, and a different event is stale', async () => {
    const { dir, log, legacyId, count } = await mixedDir();
    const first = await log.append(migration(legacyId), event('Later', { b: 1, a: 2 }), count);
    await log.close();
    const again = await openFileLog({ dir, logger: silent }); // a new process: the tail is read from the file
    expect(await again.append(migration(legacyId), event('Later', { a: 2, b: 1 }), count)).toEqual(first);
    await expect(again.append(migration(legacyId), event('Later', { a: 3 }), count)).rejects.toMatchObject({
      code: 'STALE_WRITER',
      message: expect.stringContaining(`Event log of ${MIGRATION_KIND} ${legacyId}`),
    });
    await again.close();
  });

  it('a new migration, and every other kind, gets a file of the current layout, whose lines say their kind', async () => {
    const { dir, log, fresh, sameIdOtherKind } = await mixedDir();
    await log.close();
    for (const key of [fresh, sameIdOtherKind]) {
      const lines = (await readFile(join(dir, fileNameOf(key)), 'utf8')).trimEnd().split('\n');
      for (const [i, l] of lines.entries()) {
        expect(l.startsWith(`{"kind":"${key.kind}","id":${JSON.stringify(key.id)},"seq":${i + 1},`)).toBe(true);
      }
    }
  });

  it('a torn tail is repaired in either layout, each recognised by its own line head only', async () => {
    const { dir, log, legacyId, legacyFile, count, fresh } = await mixedDir();
    await log.close();
    await appendFile(legacyFile, `{"migrationId":${JSON.stringify(legacyId)},"seq":${count + 1},"ty`);
    await appendFile(join(dir, fileNameOf(fresh)), `{"kind":"${MIGRATION_KIND}","id":"${fresh.id}","seq":4,"ty`);
    const reader = await openFileLogReader({ dir, logger: silent });
    expect(await reader.read(migration(legacyId))).toHaveLength(count);
    expect(await reader.read(fresh)).toHaveLength(3);
    await reader.close();
    const writer = await openFileLog({ dir, logger: silent, fsync: false });
    expect((await writer.append(migration(legacyId), event('E'), count)).seq).toBe(count + 1);
    expect((await writer.append(fresh, event('E'), 3)).seq).toBe(4);
    await writer.close();
  });

  it.each([
    ['a current-layout head in a legacy file', 'legacy'],
    ['a legacy head in a current-layout file', 'current'],
  ] as const)('%s is corruption, not a torn append', async (_what, into) => {
    const { dir, log, legacyId, legacyFile, count, fresh } = await mixedDir();
    await log.close();
    const [key, file, seq, tail] =
      into === 'legacy'
        ? [
            migration(legacyId),
            legacyFile,
            count + 1,
            `{"kind":"${MIGRATION_KIND}","id":${JSON.stringify(legacyId)},"seq":${count + 1},`,
          ]
        : [fresh, join(dir, fileNameOf(fresh)), 4, `{"migrationId":"${fresh.id}","seq":4,`];
    await appendFile(file, tail);
    const reader = await openFileLogReader({ dir, logger: silent });
    await expect(reader.read(key)).rejects.toMatchObject({
      code: 'CORRUPT_EVENT',
      details: { kind: MIGRATION_KIND, id: key.id, seq },
      message: expect.stringMatching(/not an append of this log/),
    });
    await reader.close();
  });

  it('a complete line of the other format in a file is corruption naming what it found', async () => {
    const { dir, log, legacyId, legacyFile, count } = await mixedDir();
    await log.close();
    const line = { kind: MIGRATION_KIND, id: legacyId, seq: count + 1, ...event('E') };
    await appendFile(legacyFile, `${JSON.stringify(line)}\n`);
    const reader = await openFileLogReader({ dir, logger: silent });
    const err = await reader.read(migration(legacyId)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptEventError);
    expect((err as Error).message).toMatch(/at seq \d+: a legacy log holds envelopes without kind, found kind/);
    await reader.close();
  });

  it('a legacy line without migrationId is named', async () => {
    const { dir, log, legacyId, legacyFile, golden } = await mixedDir();
    await log.close();
    const lines = golden.trimEnd().split('\n');
    const second = JSON.parse(lines[1]!);
    delete second.migrationId;
    lines[1] = JSON.stringify(second);
    await writeFile(legacyFile, `${lines.join('\n')}\n`);
    const reader = await openFileLogReader({ dir, logger: silent });
    await expect(reader.read(migration(legacyId))).rejects.toThrow(
      /at seq 2: migrationId must be a string, found nothing/,
    );
    await reader.close();
  });

  it('a migration held by a legacy and a current file is refused on every path, naming both files', async () => {
    const { dir, log, legacyId, count } = await mixedDir();
    await log.close();
    const current = join(dir, fileNameOf(migration(legacyId)));
    await writeFile(current, `${JSON.stringify({ kind: MIGRATION_KIND, id: legacyId, seq: 1, ...event('E') })}\n`);
    const writer = await openFileLog({ dir, logger: silent, fsync: false });
    const twoFiles = {
      code: 'CORRUPT_EVENT',
      message: expect.stringMatching(/two files hold this stream: .*default%2Fm1\.jsonl and StatefulMigration@/),
    };
    await expect(writer.read(migration(legacyId))).rejects.toMatchObject(twoFiles);
    await expect(writer.append(migration(legacyId), event('E'), count)).rejects.toMatchObject(twoFiles);
    await expect(
      (async () => {
        for await (const _ of writer.readAll());
      })(),
    ).rejects.toMatchObject(twoFiles);
    expect((await writer.list()).filter((k) => k.id === legacyId)).toEqual([
      migration(legacyId),
      { kind: 'VolumeResize', id: legacyId },
    ]);
    await writer.close();
  });

  it('a watch of a kind sees appends to legacy and current files of that kind only; a watch of a stream sees its own', async () => {
    const { dir, log, legacyId, count, fresh, sameIdOtherKind } = await mixedDir();
    await log.close();
    const writer = await openFileLog({ dir, logger: silent, fsync: false, watchPollMs: 20 });
    const ac = new AbortController();
    const collect = async (iterable: AsyncIterable<EventEnvelope>, until: number) => {
      const seen: string[] = [];
      for await (const e of iterable) {
        seen.push(`${keyText(e)}#${e.seq}`);
        if (seen.length === until) break;
      }
      return seen;
    };
    const migrations = collect(writer.watch({ kind: MIGRATION_KIND, signal: ac.signal }), 2);
    const legacyOnly = collect(writer.watch({ ...migration(legacyId), signal: ac.signal }), 1);
    const resizes = collect(writer.watch({ kind: 'VolumeResize', signal: ac.signal }), 1);
    await writer.append(sameIdOtherKind, event('R'), 2);
    await writer.append(migration(legacyId), event('E'), count);
    await writer.append(fresh, event('E'), 3);
    expect((await migrations).sort()).toEqual(
      [`${keyText(migration(legacyId))}#${count + 1}`, `${keyText(fresh)}#4`].sort(),
    );
    expect(await legacyOnly).toEqual([`${keyText(migration(legacyId))}#${count + 1}`]);
    expect(await resizes).toEqual([`${keyText(sameIdOtherKind)}#3`]);
    ac.abort();
    await writer.close();
  });
});
