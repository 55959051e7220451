// Readers never write (issue 7): a file log opened for reading creates, locks, truncates and writes nothing,
// works on a directory its user may only read, and cannot be made to hang or read a device by what it finds
// in the directory (a FIFO, a device, a /proc file).
import { spawn, spawnSync } from 'node:child_process';
import { appendFile, chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError } from '../../adapters/errors.ts';
import { CorruptEventError } from '../../adapters/event-log/port.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { openFileLogReader } from '../../adapters/file-log/file-log-reader.ts';
import { fileNameOf, legacyFileNameOf } from '../../adapters/file-log/jsonl.ts';
import { keyText, type StreamKey } from '../../machines/envelope.ts';
import { MIGRATION_KIND, MIGRATION_VERSION } from '../../machines/migration-chart.ts';
import { treeState } from '../support/tree-state.ts';

const repoRoot = join(import.meta.dirname, '..', '..');
const readerScript = join(import.meta.dirname, 'fixtures', 'file-log-reader.ts');
let root: string;
let n = 0;
const freshDir = async () => {
  const dir = join(root, `case-${++n}`);
  await mkdir(dir);
  return dir;
};
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms2m-file-log-readonly-'));
  await chmod(root, 0o755); // the unprivileged reader must be able to get in
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const silent = pino({ level: 'silent' });
const event = (i: number) => ({
  type: 'E',
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  machineVersion: MIGRATION_VERSION,
  data: { i },
});
const keyOf = (id: string, kind = MIGRATION_KIND): StreamKey => ({ kind, id });

/**
 * A log directory of both layouts: two good migration logs and a VolumeResize log with the same id as one of
 * them (current layout), a migration of the legacy layout, one log with a torn tail, a foreign *.jsonl and a
 * dead writer's leftovers.
 */
async function populatedLog(dir: string) {
  const log = await openFileLog({ dir, logger: silent, fsync: false });
  for (let i = 0; i < 3; i++) await log.append(keyOf('default/a'), event(i), i);
  for (let i = 0; i < 2; i++) await log.append(keyOf('default/torn'), event(i), i);
  await log.append(keyOf('default/a', 'VolumeResize'), event(0), 0);
  await log.close();
  await appendFile(
    join(dir, fileNameOf(keyOf('default/torn'))),
    `{"kind":"${MIGRATION_KIND}","id":"default/torn","seq":3,"ty`,
  );
  const legacy = [1, 2].map((seq) => JSON.stringify({ migrationId: 'default/old', seq, ...event(seq) }));
  await writeFile(join(dir, legacyFileNameOf('default/old')), `${legacy.join('\n')}\n`);
  await writeFile(join(dir, 'notes.jsonl'), 'not a log');
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid as number;
  const lock = `${fileNameOf(keyOf('default/a'))}.lock`;
  await writeFile(join(dir, lock), `${deadPid}\n`);
  await writeFile(join(dir, `${lock}.${deadPid}.0badcafe.tmp`), `${deadPid}\n`);
}

function warnings() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

/** Reads everything a reader can: list, read, readAll, a watch started and stopped. */
async function readEverything(dir: string, logger = silent) {
  const reader = await openFileLogReader({ dir, logger, watchPollMs: 10 });
  const keys = await reader.list();
  const ids = keys.map(keyText);
  const counts: Record<string, number | string> = {};
  for (const key of keys)
    counts[keyText(key)] = await reader.read(key).then(
      (e) => e.length,
      (e: Error) => e.name,
    );
  let all = 0;
  const allError = await (async () => {
    for await (const _ of reader.readAll()) all++;
  })().catch((e: Error) => e.name);
  const ac = new AbortController();
  const pending = reader
    .watch({ ...keyOf('default/a'), signal: ac.signal })
    [Symbol.asyncIterator]()
    .next();
  ac.abort();
  await pending;
  await reader.close();
  return { ids, counts, all, allError };
}

describe('a file log reader', () => {
  it('changes nothing: byte for byte, mtime for mtime, no file or directory created, even with a torn tail and a dead lock', async () => {
    const dir = await freshDir();
    await populatedLog(dir);
    const before = await treeState(dir);
    const { logger, lines } = warnings();
    const got = await readEverything(dir, logger);
    expect(got.ids).toEqual([
      'StatefulMigration default/a',
      'StatefulMigration default/old',
      'StatefulMigration default/torn',
      'StatefulMigration notes',
      'VolumeResize default/a',
    ]);
    expect(got.counts).toEqual({
      'StatefulMigration default/a': 3,
      'StatefulMigration default/old': 2,
      'StatefulMigration default/torn': 2,
      'StatefulMigration notes': 'CorruptEventError',
      'VolumeResize default/a': 1,
    });
    expect(got.allError).toBe('CorruptEventError');
    expect(await treeState(dir)).toEqual(before);
    expect(lines).toEqual([
      expect.objectContaining({
        kind: MIGRATION_KIND,
        id: 'default/torn',
        msg: expect.stringMatching(/^Ignored the unterminated last line .* an append in flight or torn by a crash/),
      }),
    ]);
  });

  it('reads a directory and files made read-only (chmod) as an unprivileged user, and leaves them as they were', async () => {
    const dir = await freshDir();
    await populatedLog(dir);
    await rm(join(dir, 'notes.jsonl'));
    for (const name of await readdir(dir)) await chmod(join(dir, name), 0o444);
    await chmod(dir, 0o555);
    const before = await treeState(dir);
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const child = spawn(process.execPath, ['--import', 'tsx', readerScript, dir], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...asUser,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, stderr: stderr.replace(/\{[^\n]*"level":40[^\n]*\}\n?/g, '') }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(stdout);
    if ('uid' in asUser) expect(result.uid).toBe(65534);
    expect(result).toMatchObject({
      ids: [
        'StatefulMigration default/a',
        'StatefulMigration default/old',
        'StatefulMigration default/torn',
        'VolumeResize default/a',
      ],
      events: {
        'StatefulMigration default/a': 3,
        'StatefulMigration default/old': 2,
        'StatefulMigration default/torn': 2,
        'VolumeResize default/a': 1,
      },
      readAll: 8,
    });
    expect(stderr).toContain('Ignored the unterminated last line');
    expect(await treeState(dir)).toEqual(before);
    await chmod(dir, 0o755);
  });

  it('a directory that does not exist is NotFoundError and is not created', async () => {
    const parent = await freshDir();
    const missing = join(parent, 'no', 'such', 'log');
    await expect(openFileLogReader({ dir: missing, logger: silent })).rejects.toBeInstanceOf(NotFoundError);
    await expect(openFileLogReader({ dir: missing, logger: silent })).rejects.toThrow(/reading a log never creates it/);
    expect(await readdir(parent)).toEqual([]);
  });

  it.each([
    ['a regular file', async (p: string) => writeFile(p, 'x'), /is not a directory \(it is a regular file\)/],
    ['a path through a file', async (p: string) => writeFile(dirname(p), 'x'), /is not a directory/],
    ['a FIFO', async (p: string) => mkfifo(p), /is not a directory \(it is a FIFO\)/],
  ])('a --log that is %s is InvalidInputError naming it', async (_what, make, message) => {
    const parent = await freshDir();
    const path = join(parent, 'x', 'log');
    await mkdir(dirname(path));
    if (_what === 'a path through a file') await rm(dirname(path), { recursive: true });
    await make(path);
    const before = await treeState(parent);
    const err = await openFileLogReader({ dir: path, logger: silent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(path);
    expect(await treeState(parent)).toEqual(before);
  });

  const oddFiles: Array<[string, (p: string) => Promise<void> | void, RegExp]> = [
    ['a FIFO', async (p: string) => mkfifo(p), /is a FIFO, not an event log file/],
    ['a symlink to /dev/zero', async (p: string) => symlink('/dev/zero', p), /is a character device/],
    ['a symlink to /dev/null', async (p: string) => symlink('/dev/null', p), /is a character device/],
    ['a directory', async (p: string) => mkdir(p), /is a directory, not an event log file/],
  ];
  it.each(
    oddFiles.flatMap(([what, make, message]) =>
      (['current', 'legacy'] as const).map((layout) => [what, layout, make, message] as const),
    ),
  )(
    'a *.jsonl that is %s (%s layout) is refused without being opened (no hang), by readers and writers',
    async (_what, layout, make, message) => {
      const dir = await freshDir();
      const log = await openFileLog({ dir, logger: silent, fsync: false });
      const ok = keyOf('default/ok');
      const odd = keyOf('default/odd');
      await log.append(ok, event(0), 0);
      await make(join(dir, layout === 'current' ? fileNameOf(odd) : legacyFileNameOf(odd.id)));
      const before = await treeState(dir);
      const reader = await openFileLogReader({ dir, logger: silent });
      expect(await reader.list()).toEqual([odd, ok]);
      await expect(reader.read(odd)).rejects.toThrow(message);
      await expect(reader.read(odd)).rejects.toBeInstanceOf(InvalidInputError);
      await expect(
        (async () => {
          for await (const _ of reader.readAll());
        })(),
      ).rejects.toThrow(message);
      expect(await reader.read(ok)).toHaveLength(1);
      await reader.close();
      expect(await treeState(dir)).toEqual(before);
      await expect(log.append(odd, event(0), 0)).rejects.toThrow(message);
      expect((await log.append(ok, event(1), 1)).seq).toBe(2);
      await log.close();
    },
  );

  it('a /proc file linked in as a log is read within its reported size: no hang, nothing read past it', async () => {
    const dir = await freshDir();
    await symlink('/proc/self/status', join(dir, fileNameOf(keyOf('default/proc'))));
    const reader = await openFileLogReader({ dir, logger: silent });
    expect(await reader.read(keyOf('default/proc'))).toEqual([]); // /proc reports size 0
    await reader.close();
    const proc = await openFileLogReader({ dir: '/proc', logger: silent });
    expect(await proc.list()).toEqual([]);
    await proc.close();
  });

  it('a log whose content is corrupt stays corrupt after any number of reads (nothing repairs it)', async () => {
    const dir = await freshDir();
    const log = await openFileLog({ dir, logger: silent, fsync: false });
    for (let i = 0; i < 2; i++) await log.append(keyOf('default/m'), event(i), i);
    await appendFile(log.locate(keyOf('default/m')), 'garbage\n');
    const before = await treeState(dir);
    for (let i = 0; i < 3; i++) {
      await expect(log.read(keyOf('default/m'))).rejects.toBeInstanceOf(CorruptEventError);
    }
    await log.close();
    expect(await treeState(dir)).toEqual(before);
  });
});

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  if (r.status !== 0) throw new Error(`mkfifo ${path} failed: ${r.stderr}`);
}
