// What the file log accepts as a torn append and what it calls corruption (issue 7, "Event log and its
// readers"): only an unterminated last line that is this log's own append is torn; a complete line that is
// not valid UTF-8 JSON, or an unterminated line that is not an append of this log, is a CorruptEventError
// naming the migration, the seq, the file and the byte offset, and the log is left exactly as it was.
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { parseLog } from '../../actors/event-schema.ts';
import { CorruptEventError } from '../../adapters/event-log/port.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { openFileLogReader } from '../../adapters/file-log/file-log-reader.ts';
import { fileNameOf, legacyFileNameOf } from '../../adapters/file-log/jsonl.ts';
import type { StreamKey } from '../../machines/envelope.ts';
import { MIGRATION_KIND, MIGRATION_VERSION } from '../../machines/migration-chart.ts';

let root: string;
let n = 0;
const freshDir = async () => {
  const dir = join(root, `case-${++n}`);
  await mkdir(dir);
  return dir;
};
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms2m-file-log-corruption-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const silent = pino({ level: 'silent' });
const event = (i: number, data: unknown = { i, note: 'ünïcødé ✓' }) => ({
  type: 'E',
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  machineVersion: MIGRATION_VERSION,
  data,
});
const keyOf = (id: string): StreamKey => ({ kind: MIGRATION_KIND, id });
/** The current-layout file of migration `id` in `dir`. */
const fileOf = (dir: string, id: string) => join(dir, fileNameOf(keyOf(id)));
/** The first bytes of the line the log writes for seq `seq` of migration `id` (current format). */
const head = (id: string, seq: number) => `{"kind":"${MIGRATION_KIND}","id":${JSON.stringify(id)},"seq":${seq},`;

function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** A log of `count` events of migration `id` written by the log itself; returns the file and its lines. */
async function writtenLog(dir: string, id: string, count: number) {
  const log = await openFileLog({ dir, logger: silent, fsync: false });
  for (let i = 0; i < count; i++) await log.append(keyOf(id), event(i), i);
  await log.close();
  const file = log.locate(keyOf(id));
  expect(file).toBe(fileOf(dir, id));
  return { file, bytes: await readFile(file) };
}

async function errorOf(p: Promise<unknown>): Promise<CorruptEventError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CorruptEventError);
  return err as CorruptEventError;
}

/** Asserts reader, writer read and writer append all refuse the file with the same seq, changing nothing. */
async function expectCorrupt(dir: string, id: string, seq: number, message: RegExp, file = fileOf(dir, id)) {
  const before = await readFile(file);
  const reader = await openFileLogReader({ dir, logger: silent });
  const fromReader = await errorOf(reader.read(keyOf(id)));
  expect(fromReader.message).toMatch(message);
  expect(fromReader.message).toContain(`Event log of ${MIGRATION_KIND} ${id} at seq ${seq}:`);
  expect(fromReader.details).toMatchObject({ kind: MIGRATION_KIND, id, seq, file });
  expect(fromReader.message).not.toContain('\n');
  await expect(
    errorOf(
      (async () => {
        for await (const _ of reader.readAll());
      })(),
    ),
  ).resolves.toMatchObject({
    details: { seq },
  });
  const writer = await openFileLog({ dir, logger: silent });
  await expect(errorOf(writer.read(keyOf(id)))).resolves.toMatchObject({ details: { seq } });
  await expect(errorOf(writer.append(keyOf(id), event(99), seq - 1))).resolves.toMatchObject({ details: { seq } });
  await writer.close();
  await reader.close();
  expect((await readFile(file)).equals(before)).toBe(true);
}

describe('a complete line is never a torn write', () => {
  it.each([
    ['text', 'not json\n'],
    ['a JSON prefix with its newline', `${head('default/m1', 4)}"type":"E","at":"20\n`],
    ['an empty line', '\n'],
    ['a blank line', '   \n'],
    ['a number', '42\n'],
    ['an array', `[${head('default/m1', 4).slice(0, -1)}}]\n`],
    ['null', 'null\n'],
  ])('a last line that is %s is corruption at the next seq, not dropped', async (_what, line) => {
    const dir = await freshDir();
    const { file } = await writtenLog(dir, 'default/m1', 3);
    await appendFile(file, line);
    await expectCorrupt(dir, 'default/m1', 4, /at seq 4: /);
  });

  it('the terminal event of a finished migration damaged in place fails loudly instead of replaying from Finalizing', async () => {
    const dir = await freshDir();
    const golden = (await readFile(join(import.meta.dirname, '../golden/sequential.jsonl'), 'utf8')).trimEnd();
    const lines = golden.split('\n');
    const id = JSON.parse(lines[0] as string).migrationId as string; // a log of the legacy layout
    const last = lines.length;
    expect(
      parseLog(
        migrationChart,
        lines.map((l) => JSON.parse(l)),
        id,
      ).at(-1)?.type,
    ).toBe('StatefulSetRestored');
    lines[last - 1] = (lines[last - 1] as string).slice(0, -5); // a bit flip / bad sector: newline still there
    const file = join(dir, legacyFileNameOf(id));
    await writeFile(file, `${lines.join('\n')}\n`);
    await expectCorrupt(dir, id, last, /event is not JSON/, file);
  });
});

describe('invalid UTF-8 is corruption, never U+FFFD', () => {
  const cases: Array<[string, number[]]> = [
    ['a lone continuation byte', [0x80]],
    ['an overlong slash', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a truncated 3-byte sequence', [0xe2, 0x82]],
    ['a byte that never occurs', [0xff]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ];
  it.each(cases)('%s inside a string of event data', async (_what, bad) => {
    const dir = await freshDir();
    const { file, bytes } = await writtenLog(dir, 'default/m1', 3);
    const lines = bytes.toString('utf8').trimEnd().split('\n');
    const marker = 'ünïcødé';
    const middle = Buffer.from(lines[1] as string);
    const at = middle.indexOf(marker);
    const damaged = Buffer.concat([middle.subarray(0, at), Buffer.from(bad), middle.subarray(at + 2)]);
    await writeFile(file, Buffer.concat([Buffer.from(`${lines[0]}\n`), damaged, Buffer.from(`\n${lines[2]}\n`)]));
    await expectCorrupt(dir, 'default/m1', 2, /event is not valid UTF-8 .*at byte \d+/);
  });

  it('a byte order mark at the start of a log', async () => {
    const dir = await freshDir();
    const { file, bytes } = await writtenLog(dir, 'default/m1', 2);
    await writeFile(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]));
    await expectCorrupt(dir, 'default/m1', 1, /event is not JSON/);
  });

  it('a torn append cut inside a multi-byte character is still a torn append (not invalid UTF-8)', async () => {
    const dir = await freshDir();
    const { file, bytes } = await writtenLog(dir, 'default/m1', 2);
    const line = Buffer.from(
      `${JSON.stringify({ kind: MIGRATION_KIND, id: 'default/m1', seq: 3, ...event(3, { s: 'ünï' }) })}\n`,
    );
    const cut = line.indexOf(Buffer.from('ü')) + 1; // between the two bytes of ü
    await appendFile(file, line.subarray(0, cut));
    const reader = await openFileLogReader({ dir, logger: silent });
    expect(await reader.read(keyOf('default/m1'))).toHaveLength(2);
    await reader.close();
    const writer = await openFileLog({ dir, logger: silent });
    expect((await writer.append(keyOf('default/m1'), event(3), 2)).seq).toBe(3);
    await writer.close();
    expect((await readFile(file)).subarray(0, bytes.length).equals(bytes)).toBe(true);
  });
});

describe('an unterminated last line is torn only when it is an append of this log', () => {
  it.each(['current', 'legacy'] as const)(
    'every cut of the next line (%s layout) is skipped by readers and kept aside by the writer; with a newline added it is corruption',
    async (format) => {
      const id = 'ns/cut';
      const envelope = (seq: number, data: unknown) =>
        format === 'current'
          ? { kind: MIGRATION_KIND, id, seq, ...event(seq, data) }
          : { migrationId: id, seq, ...event(seq, data) };
      const line = Buffer.from(`${JSON.stringify(envelope(3, { s: 'ü✓𝄞', n: [1, 2] }))}\n`);
      const bytes = Buffer.from(`${[1, 2].map((seq) => JSON.stringify(envelope(seq, { seq }))).join('\n')}\n`);
      const name = format === 'current' ? fileNameOf(keyOf(id)) : legacyFileNameOf(id);
      const base = await freshDir();
      // every cut position, exhaustively: no randomness needed
      for (let cut = 1; cut < line.length - 1; cut++) {
        const dir = join(base, `cut-${cut}`);
        await mkdir(dir);
        const file = join(dir, name);
        await writeFile(file, Buffer.concat([bytes, line.subarray(0, cut)]));
        const reader = await openFileLogReader({ dir, logger: silent });
        expect((await reader.read(keyOf(id))).map((e) => e.seq)).toEqual([1, 2]);
        await reader.close();
        const { logger, lines } = capturedLogger();
        const writer = await openFileLog({ dir, logger, fsync: false });
        expect((await writer.append(keyOf(id), event(3), 2)).seq).toBe(3);
        expect(writer.locate(keyOf(id))).toBe(file);
        await writer.close();
        const kept = lines.find((l) => String(l.msg).startsWith('Dropped torn last line'));
        expect((await readFile(String(kept?.keptIn))).equals(line.subarray(0, cut))).toBe(true);

        await writeFile(file, Buffer.concat([bytes, line.subarray(0, cut), Buffer.from('\n')]));
        const err = await errorOf(openFileLogReader({ dir, logger: silent }).then((r) => r.read(keyOf(id))));
        expect(err.details).toMatchObject({ seq: 3, offset: bytes.length });
      }
    },
  );

  it.each([
    ['foreign text', 'hello'],
    ['NUL bytes (a power loss on some filesystems)', '\0\0\0\0\0\0\0\0'],
    ['the head of another migration', head('default/other', 4)],
    ['the head of another kind', head('default/m1', 4).replace(MIGRATION_KIND, 'VolumeResize')],
    ['the legacy head (never written into a file of the current layout)', '{"migrationId":"default/m1","seq":4,'],
    ['a repeated seq', `${head('default/m1', 3)}"type":"E"`],
    ['a skipped seq', head('default/m1', 5)],
    ['reordered keys', `{"seq":4,"kind":"${MIGRATION_KIND}","id":"default/m1"`],
  ])('%s after the last newline is corruption and stays where it is', async (_what, tail) => {
    const dir = await freshDir();
    const { file } = await writtenLog(dir, 'default/m1', 3);
    await appendFile(file, tail);
    await expectCorrupt(dir, 'default/m1', 4, /no newline and is not an append of this log.*move them aside/);
  });

  it('a log of one torn line (killed during the first append) is empty to readers and repaired by the writer', async () => {
    const dir = await freshDir();
    const file = fileOf(dir, 'default/new');
    await writeFile(file, '{"ki');
    const reader = await openFileLogReader({ dir, logger: silent });
    expect(await reader.list()).toEqual([keyOf('default/new')]);
    expect(await reader.read(keyOf('default/new'))).toEqual([]);
    await reader.close();
    expect(await readFile(file, 'utf8')).toBe('{"ki');
    const writer = await openFileLog({ dir, logger: silent });
    expect((await writer.append(keyOf('default/new'), event(0), 0)).seq).toBe(1);
    expect((await readFile(file, 'utf8')).startsWith(head('default/new', 1))).toBe(true);
    await writer.close();
  });
});

describe('foreign *.jsonl files in a log directory', () => {
  it.each([
    ['one unterminated line', 'just some notes'],
    ['JSON lines of something else', '{"level":30,"msg":"hello"}\n{"level":40,"msg":"world"}\n'],
    ['an unterminated JSON line of something else', '{"level":30,"msg":"hel'],
    ['an empty line', '\n'],
  ])('%s is corruption to every reader and writer, and is never truncated', async (_what, content) => {
    const dir = await freshDir();
    const file = join(dir, 'notes.jsonl');
    await writeFile(file, content);
    await writtenLog(dir, 'default/m1', 2); // a writer working beside it leaves it alone
    const reader = await openFileLogReader({ dir, logger: silent });
    // a name without a kind is a migration of the legacy layout: `notes.jsonl` names migration `notes`
    expect(await reader.list()).toEqual([keyOf('default/m1'), keyOf('notes')]);
    const err = await errorOf(reader.read(keyOf('notes')));
    expect(err.details).toMatchObject({ kind: MIGRATION_KIND, id: 'notes', file });
    await reader.close();
    const writer = await openFileLog({ dir, logger: silent });
    await errorOf(writer.append(keyOf('notes'), event(0), 0));
    await errorOf(writer.append(keyOf('notes'), event(0), 1));
    await writer.close();
    expect(await readFile(file, 'utf8')).toBe(content);
  });
});

describe('clear messages', () => {
  const seqCases: Array<[string, string, RegExp]> = [
    ['a string seq', '"2"', /at seq 2: seq must be a number, found string "2"/],
    ['a null seq', 'null', /at seq 2: seq must be a number, found null/],
    ['a zero seq', '0', /at seq 2: seq must be a positive integer, found 0/],
    ['a fractional seq', '1.5', /at seq 2: seq must be a positive integer, found 1.5/],
    ['a repeated seq', '1', /at seq 2: seq 1 repeats or goes back \(seq 2 was expected\)/],
    ['a gap', '7', /at seq 2: seq gap: seq 7 follows seq 1 \(seq 2 was expected\)/],
  ];
  it.each(seqCases)('%s says what is wrong with it', async (_what, seqJson, message) => {
    const dir = await freshDir();
    const { file, bytes } = await writtenLog(dir, 'default/m1', 3);
    const lines = bytes.toString('utf8').trimEnd().split('\n');
    lines[1] = (lines[1] as string).replace('"seq":2,', `"seq":${seqJson},`);
    await writeFile(file, `${lines.join('\n')}\n`);
    await expectCorrupt(dir, 'default/m1', 2, message);
  });

  it.each([
    ['type', /type must be a non-empty string, found nothing/],
    ['at', /at must be a non-empty string, found nothing/],
    ['machineVersion', /machineVersion must be an integer, found nothing/],
    ['data', /data is missing/],
    ['kind', /kind must be a string, found nothing/],
    ['id', /id must be a string, found nothing/],
  ])('a missing %s is named', async (field, message) => {
    const dir = await freshDir();
    const { file, bytes } = await writtenLog(dir, 'default/m1', 2);
    const lines = bytes.toString('utf8').trimEnd().split('\n');
    const second = JSON.parse(lines[1] as string);
    delete second[field];
    lines[1] = JSON.stringify(second);
    await writeFile(file, `${lines.join('\n')}\n`);
    await expectCorrupt(dir, 'default/m1', 2, message);
  });

  it('the byte offset in the error is where the bad line starts', async () => {
    const dir = await freshDir();
    const { file, bytes } = await writtenLog(dir, 'default/m1', 3);
    const firstLength = bytes.indexOf(0x0a) + 1;
    const lines = bytes.toString('utf8').trimEnd().split('\n');
    lines[1] = 'garbage';
    await writeFile(file, `${lines.join('\n')}\n`);
    const reader = await openFileLogReader({ dir, logger: silent });
    const err = await errorOf(reader.read(keyOf('default/m1')));
    expect(err.details).toMatchObject({ seq: 2, offset: firstLength });
    expect(err.message).toContain(`${file} at byte ${firstLength}`);
    await reader.close();
    expect((await stat(file)).size).toBe(Buffer.byteLength(`${lines.join('\n')}\n`));
  });
});

describe('logs written by earlier versions (no marker file, no header: the line head is the mark)', () => {
  it('every golden log, placed under its id, is read, extended, and its torn tail repaired like a new one', async () => {
    const goldenDir = join(import.meta.dirname, '../golden');
    for (const name of ['sequential', 'crash-resume', 'shadowpod-direct']) {
      const dir = await freshDir();
      const text = await readFile(join(goldenDir, `${name}.jsonl`), 'utf8');
      const id = JSON.parse(text.slice(0, text.indexOf('\n'))).migrationId as string;
      const count = text.trimEnd().split('\n').length;
      const file = join(dir, legacyFileNameOf(id));
      await writeFile(file, `${text}{"migrationId":${JSON.stringify(id)},"seq":${count + 1},"type":"Tor`);
      const reader = await openFileLogReader({ dir, logger: silent });
      expect(await reader.list()).toEqual([keyOf(id)]);
      expect(parseLog(migrationChart, await reader.read(keyOf(id)), id)).toHaveLength(count);
      await reader.close();
      const writer = await openFileLog({ dir, logger: silent });
      expect((await writer.append(keyOf(id), event(count), count)).seq).toBe(count + 1);
      await writer.close();
      expect(await readdir(dir)).not.toContain(fileNameOf(keyOf(id))); // continued where it is, not moved
      const after = await readFile(file, 'utf8');
      expect(after.startsWith(text)).toBe(true); // every old byte kept
      expect(after.slice(text.length)).toMatch(new RegExp(`^\\{"migrationId":"${id}","seq":${count + 1},.*\\}\\n$`));
    }
  });
});

describe('watch', () => {
  it('waits for an unterminated line to complete, then stops with CorruptEventError when it is not an event', async () => {
    const dir = await freshDir();
    const log = await openFileLog({ dir, logger: silent, watchPollMs: 20 });
    await log.append(keyOf('default/w'), event(0), 0);
    const seen: number[] = [];
    const watching = (async () => {
      for await (const ev of log.watch(keyOf('default/w'))) seen.push(ev.seq);
    })().then(
      () => new Error('the watch ended without an error'),
      (err: unknown) => err,
    );
    await log.append(keyOf('default/w'), event(1), 1);
    const file = log.locate(keyOf('default/w'));
    await appendFile(file, `${head('default/w', 3)}"type":"E","at":"2026-01-01T00:00:03.000Z"`);
    await appendFile(
      file,
      Buffer.concat([Buffer.from(',"machineVersion":1,"data":{"bad":"'), Buffer.from([0xff]), Buffer.from('"}}\n')]),
    );
    const err = await watching;
    expect(err).toBeInstanceOf(CorruptEventError);
    expect((err as Error).message).toMatch(/at seq 3: event is not valid UTF-8/);
    expect(seen).toEqual([2]);
    await log.close();
  });
});
