import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptEventError } from '../../adapters/event-log/port.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { fileNameOf } from '../../adapters/file-log/jsonl.ts';
import type { StreamKey } from '../../machines/envelope.ts';
import { MIGRATION_KIND, MIGRATION_VERSION } from '../../machines/migration-chart.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const writerScript = join(here, 'fixtures', 'file-log-writer.ts');

let root: string;
let n = 0;
const freshDir = () => join(root, `case-${++n}`);
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms2m-file-log-crash-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A pino logger writing into an array of parsed JSON lines: the real output, as pino's own tests do it. */
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

interface Writer {
  acks: number[];
  /** Resolves once the writer has printed at least `count` acks (rejects if it exits first). */
  waitForAcks(count: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(): void;
}

function startWriter(dir: string, id: string, writer: string, count: number, maxPad: number): Writer {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', writerScript, dir, id, writer, String(count), String(maxPad)],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const acks: number[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    const lines = stdout.split('\n');
    stdout = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^acked (\d+)$/.exec(line);
      if (m) acks.push(Number(m[1]));
    }
    for (const w of waiters.filter((w) => acks.length >= w.count)) w.resolve();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return {
    acks,
    exited,
    kill: () => child.kill('SIGKILL'),
    waitForAcks: (count) =>
      new Promise<void>((resolve, reject) => {
        if (acks.length >= count) return resolve();
        waiters.push({ count, resolve });
        void exited.then((r) =>
          reject(new Error(`writer exited (${r.code ?? r.signal}) before ${count} acks: ${r.stderr}`)),
        );
      }),
  };
}

const event = (type: string, data: unknown) => ({
  type,
  at: new Date().toISOString(),
  machineVersion: MIGRATION_VERSION,
  data,
});
const keyOf = (id: string): StreamKey => ({ kind: MIGRATION_KIND, id });
/** The first bytes of the line the log writes for seq `seq` of migration `id`. */
const head = (id: string, seq: number) => `{"kind":"${MIGRATION_KIND}","id":${JSON.stringify(id)},"seq":${seq},`;

describe('file log across processes', () => {
  it('4 writer processes racing with CAS leave a gapless log where each seq was won by exactly one writer', async () => {
    const dir = freshDir();
    const perWriter = 40;
    const writers = ['w0', 'w1', 'w2', 'w3'].map((w) => ({ w, proc: startWriter(dir, 'race/m1', w, perWriter, 64) }));
    for (const { proc } of writers) expect(await proc.exited).toMatchObject({ code: 0 });

    const log = await openFileLog({ dir, logger: pino({ level: 'silent' }) });
    const events = await log.read(keyOf('race/m1'));
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 4 * perWriter }, (_, i) => i + 1));
    const winners = new Map<number, string>();
    for (const { w, proc } of writers) {
      expect(proc.acks).toHaveLength(perWriter);
      for (const seq of proc.acks) {
        expect(winners.has(seq)).toBe(false);
        winners.set(seq, w);
      }
      const own = events.filter((e) => (e.data as { writer: string }).writer === w);
      expect(own.map((e) => (e.data as { i: number }).i)).toEqual(Array.from({ length: perWriter }, (_, i) => i));
    }
    for (const e of events) expect((e.data as { writer: string }).writer).toBe(winners.get(e.seq));
    await log.close();
  });

  it('watch sees, in order, the events another process appends after the watch started', async () => {
    const dir = freshDir();
    const log = await openFileLog({ dir, logger: pino({ level: 'silent' }), watchPollMs: 50 });
    await log.append(keyOf('watch/m1'), event('Before', {}), 0);
    const controller = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      for await (const ev of log.watch({ ...keyOf('watch/m1'), signal: controller.signal })) {
        seen.push(ev.seq);
        if (ev.seq === 21) controller.abort();
      }
    })();
    const proc = startWriter(dir, 'watch/m1', 'other', 20, 64);
    expect(await proc.exited).toMatchObject({ code: 0 });
    await watching;
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    await log.close();
  });

  it('kill -9 mid-append, repeatedly: every acked event survives intact, a torn tail is dropped with a warning, appends continue', async () => {
    const dir = freshDir();
    const id = 'crash/m1';
    const file = join(dir, fileNameOf(keyOf(id)));
    let naturallyTorn = 0;
    for (let round = 0; round < 8; round++) {
      const writer = `round-${round}`;
      // Large random payloads make a SIGKILL during write() tear a line now and then.
      const proc = startWriter(dir, id, writer, 0, round % 2 === 0 ? 1 << 20 : 256);
      await proc.waitForAcks(1 + Math.floor(Math.random() * 15));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 25));
      proc.kill();
      expect((await proc.exited).signal).toBe('SIGKILL');

      let before = await readFile(file);
      const complete = before.lastIndexOf(0x0a) + 1;
      let torn = complete < before.length;
      if (torn) naturallyTorn += 1;
      else if (round % 2 === 1) {
        await appendFile(file, head(id, 0).slice(0, -3)); // what an interrupted write leaves behind
        before = await readFile(file);
        torn = true;
      }

      const { logger, lines } = capturedLogger();
      const log = await openFileLog({ dir, logger });
      const events = await log.read(keyOf(id));
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
      for (const seq of proc.acks) {
        const ev = events[seq - 1];
        expect(ev?.seq).toBe(seq);
        const data = ev?.data as { writer: string; padLength: number; pad: string };
        expect(data.writer).toBe(writer);
        expect(data.pad).toHaveLength(data.padLength);
      }
      // reading changes nothing, even in a writer: the torn tail is only reported
      expect((await readFile(file)).equals(before)).toBe(true);
      const ignored = lines.filter((l) => l.level === 40 && String(l.msg).startsWith('Ignored the unterminated'));
      expect(ignored).toEqual(
        torn ? [expect.objectContaining({ file, offset: complete, kind: MIGRATION_KIND, id })] : [],
      );

      const next = await log.append(keyOf(id), event('AfterCrash', { round }), events.length);
      expect(next.seq).toBe(events.length + 1);
      const dropped = lines.filter((l) => l.level === 40 && String(l.msg).startsWith('Dropped torn last line'));
      if (torn) {
        expect(dropped).toEqual([expect.objectContaining({ file, offset: complete, kind: MIGRATION_KIND, id })]);
        const keptIn = String(dropped[0]?.keptIn);
        expect((await readFile(keptIn)).equals(before.subarray(complete))).toBe(true); // kept aside, not destroyed
        expect((await readFile(file)).subarray(0, complete).equals(before.subarray(0, complete))).toBe(true);
      } else {
        expect(dropped).toEqual([]);
      }
      await log.close();
    }
    // Not asserted (it depends on timing), but reported: how many tears the kills produced by themselves.
    console.info(`file-log kill -9 rounds: ${naturallyTorn} of 8 left a torn line by themselves`);
  });
});

describe('file log recovery', () => {
  it('reading skips a torn last line and leaves it; the next append keeps it in a sidecar and cuts it off', async () => {
    const dir = freshDir();
    const log = await openFileLog({ dir, logger: pino({ level: 'silent' }) });
    for (let i = 0; i < 3; i++) await log.append(keyOf('default/m1'), event('E', { i }), i);
    await log.close();
    const file = join(dir, 'StatefulMigration@default%2Fm1.jsonl');
    const offset = (await stat(file)).size;
    const tornLine = `${head('default/m1', 4)}"type":"E","at":"2026-`;
    await appendFile(file, tornLine);
    const before = await readFile(file);

    const { logger, lines } = capturedLogger();
    const reopened = await openFileLog({ dir, logger });
    expect((await reopened.read(keyOf('default/m1'))).map((e) => e.data)).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    expect(lines.filter((l) => l.level === 40)).toEqual([
      expect.objectContaining({
        file,
        offset,
        kind: MIGRATION_KIND,
        id: 'default/m1',
        msg: expect.stringContaining(file),
      }),
    ]);
    expect((await readFile(file)).equals(before)).toBe(true);
    expect((await reopened.append(keyOf('default/m1'), event('E', { i: 3 }), 3)).seq).toBe(4);
    const dropped = lines.filter((l) => String(l.msg).startsWith('Dropped torn last line'));
    expect(dropped).toEqual([expect.objectContaining({ file, offset, droppedBytes: tornLine.length })]);
    expect(await readFile(String(dropped[0]?.keptIn), 'utf8')).toBe(tornLine);
    expect(String(dropped[0]?.keptIn)).toMatch(/StatefulMigration@default%2Fm1\.jsonl\.torn-\d{4}-\d\d-\d\dT/);
    expect((await reopened.read(keyOf('default/m1'))).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(await reopened.list()).toEqual([keyOf('default/m1')]); // the sidecar is not a log
    await reopened.close();
  });

  it('an append finds a torn tail under its lock, keeps it aside, drops it and takes the next seq', async () => {
    const dir = freshDir();
    const { logger, lines } = capturedLogger();
    const log = await openFileLog({ dir, logger });
    await log.append(keyOf('default/m2'), event('E', { i: 0 }), 0);
    await appendFile(log.locate(keyOf('default/m2')), head('default/m2', 2).slice(0, -8));
    expect((await log.append(keyOf('default/m2'), event('E', { i: 1 }), 1)).seq).toBe(2);
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
    expect((await log.read(keyOf('default/m2'))).map((e) => e.data)).toEqual([{ i: 0 }, { i: 1 }]);
    await log.close();
  });

  it.each([
    ['a line that is not JSON', (l: string[]) => [l[0], 'not json', l[2]]],
    ['a seq gap', (l: string[]) => [l[0], l[2]]],
    ['an envelope without a type', (l: string[]) => [l[0], l[1]?.replace('"type":"E",', ''), l[2]]],
  ])('rejects %s in the middle of a file with CorruptEventError naming migration and seq', async (_what, edit) => {
    const dir = freshDir();
    const log = await openFileLog({ dir, logger: pino({ level: 'silent' }) });
    for (let i = 0; i < 3; i++) await log.append(keyOf('default/m3'), event('E', { i }), i);
    const file = log.locate(keyOf('default/m3'));
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    await writeFile(file, `${edit(lines).join('\n')}\n`);
    const err = await log.read(keyOf('default/m3')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptEventError);
    expect(err).toMatchObject({
      code: 'CORRUPT_EVENT',
      details: { kind: MIGRATION_KIND, id: 'default/m3', seq: 2, file },
    });
    expect((err as Error).message).toContain('default/m3');
    await log.close();
  });

  it('takes over a lock file left by a dead process and says so', async () => {
    const dir = freshDir();
    const { logger, lines } = capturedLogger();
    const log = await openFileLog({ dir, logger });
    const dead = spawn(process.execPath, ['-e', '0']);
    const deadPid = dead.pid as number;
    await new Promise((resolve) => dead.on('close', resolve));
    await writeFile(`${log.locate(keyOf('default/m4'))}.lock`, `${deadPid}\n`);
    expect((await log.append(keyOf('default/m4'), event('E', {}), 0)).seq).toBe(1);
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, pid: deadPid }));
    await log.close();
    // A process killed while acquiring leaves its temp file behind; the next open clears it.
    const leftover = `${log.locate(keyOf('default/m4'))}.lock.${deadPid}.0badcafe.tmp`;
    await writeFile(leftover, `${deadPid}\n`);
    await (await openFileLog({ dir, logger })).close();
    await expect(stat(leftover)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('maps stream keys to file names reversibly, each kind in its own namespace', async () => {
    const dir = freshDir();
    const log = await openFileLog({ dir, logger: pino({ level: 'silent' }) });
    const ids = ['default/m1', 'ns/with space', 'a/b/c', '../escape', '.', '..', 'ünï/cødé', 'x%2Fy/z', 'a@b', 'V@x'];
    const keys = ['StatefulMigration', 'VolumeResize'].flatMap((kind) => ids.map((id) => ({ kind, id })));
    for (const key of keys) await log.append(key, event('E', key), 0);
    const byKindThenId = (a: StreamKey, b: StreamKey) =>
      a.kind === b.kind ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.kind < b.kind ? -1 : 1;
    expect(await log.list()).toEqual([...keys].sort(byKindThenId));
    for (const key of keys) {
      expect(dirname(log.locate(key))).toBe(dir);
      expect((await log.read(key)).map((e) => e.data)).toEqual([key]);
    }
    await log.close();
  });
});
