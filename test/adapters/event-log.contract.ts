import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { StaleWriterError } from '../../adapters/event-log/port.ts';
import { canonicalEvent } from '../../adapters/event-log/same-event.ts';
import { type EventEnvelope, keyText, type NewEvent, type StreamKey } from '../../machines/envelope.ts';
import { MIGRATION_KIND, MIGRATION_VERSION } from '../../machines/migration-chart.ts';

/** A new event for the contract tests; `data` defaults to something nested and non-ASCII to check round trips. */
export function newEvent(
  type: string,
  data: unknown = { note: 'ünïcødé ✓', nested: { n: 1, list: [1, 'two'] } },
): NewEvent {
  return {
    type,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 123)).toISOString(),
    machineVersion: MIGRATION_VERSION,
    data,
  };
}

/** Appends with compare-and-set, re-reading the log and retrying whenever another writer got there first. */
export async function appendWithRetry(log: EventLog, key: StreamKey, event: NewEvent): Promise<EventEnvelope> {
  for (;;) {
    const events = await log.read(key);
    try {
      return await log.append(key, event, events.at(-1)?.seq ?? 0);
    } catch (err) {
      if (!(err instanceof StaleWriterError)) throw err;
    }
  }
}

/** Collects events from `iterable` until `stop(ev)` is true (inclusive). */
async function collectUntil(iterable: AsyncIterable<EventEnvelope>, stop: (ev: EventEnvelope) => boolean) {
  const seen: EventEnvelope[] = [];
  for await (const ev of iterable) {
    seen.push(ev);
    if (stop(ev)) break;
  }
  return seen;
}

let counter = 0;
/** Fresh ids per test, so implementations that share storage between tests stay isolated. */
function freshId(label: string): string {
  counter += 1;
  return `contract-${process.pid}-${Date.now().toString(36)}/${label}-${counter}`;
}
/** A fresh stream key of `kind` (the migration kind unless told). */
function freshKey(label: string, kind = MIGRATION_KIND): StreamKey {
  return { kind, id: freshId(label) };
}
/** A second kind, as VolumeResize will be: its streams never meet a migration's, whatever the ids. */
const OTHER_KIND = 'ContractOther';

/**
 * The behaviour every {@link EventLog} implementation must have. Call it from a test file with a factory that
 * opens a usable log (the suite closes it after each test); it knows nothing about where events are stored.
 *
 * @example
 * ```ts
 * eventLogContract('memory', async () => createMemoryEventLog());
 * ```
 */
export function eventLogContract(name: string, open: () => Promise<EventLog>): void {
  describe(`EventLog contract: ${name}`, () => {
    let log: EventLog;
    beforeEach(async () => {
      log = await open();
    });
    afterEach(async () => {
      await log.close();
    });

    it('stores the first event at seq 1 and every next one at the next seq, with the full envelope', async () => {
      const key = freshKey('seq');
      const first = await log.append(key, newEvent('MigrationRequested'), 0);
      const second = await log.append(key, newEvent('CheckpointCreated', { image: 'x' }), 1);
      expect(first).toEqual({ kind: key.kind, id: key.id, seq: 1, ...newEvent('MigrationRequested') });
      expect(Object.keys(first)).toEqual(['kind', 'id', 'seq', 'type', 'at', 'machineVersion', 'data']);
      expect(second).toMatchObject({ ...key, seq: 2, type: 'CheckpointCreated', data: { image: 'x' } });
      expect(await log.read(key)).toEqual([first, second]);
    });

    it('reads an unknown stream as an empty list', async () => {
      expect(await log.read(freshKey('unknown'))).toEqual([]);
      expect(await log.read(freshKey('unknown', OTHER_KIND))).toEqual([]);
    });

    it('rejects a stale writer (expectSeq behind or ahead) with StaleWriterError and stores nothing', async () => {
      const key = freshKey('cas');
      await log.append(key, newEvent('A'), 0);
      await log.append(key, newEvent('B'), 1);
      for (const expectSeq of [0, 1, 3, 7]) {
        const err = await log.append(key, newEvent('Other', { expectSeq }), expectSeq).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StaleWriterError);
        expect(err).toMatchObject({ code: 'STALE_WRITER' });
      }
      expect((await log.read(key)).map((e) => e.type)).toEqual(['A', 'B']);
    });

    it('answers a retried append of the same event at the same seq with the stored envelope (lost ack)', async () => {
      const key = freshKey('retry');
      const first = await log.append(key, newEvent('A', { k: 1 }), 0);
      expect(await log.append(key, newEvent('A', { k: 1 }), 0)).toEqual(first);
      const second = await log.append(key, newEvent('B', { k: 2 }), 1);
      await log.append(key, newEvent('C'), 2);
      expect(await log.append(key, newEvent('B', { k: 2 }), 1)).toEqual(second);
      expect((await log.read(key)).map((e) => e.seq)).toEqual([1, 2, 3]);
    });

    it('rejects a different event at a taken seq with StaleWriterError', async () => {
      const key = freshKey('taken');
      await log.append(key, newEvent('A', { k: 1 }), 0);
      await expect(log.append(key, newEvent('A', { k: 2 }), 0)).rejects.toBeInstanceOf(StaleWriterError);
      await expect(log.append(key, newEvent('Z', { k: 1 }), 0)).rejects.toMatchObject({ code: 'STALE_WRITER' });
      expect(await log.read(key)).toHaveLength(1);
    });

    it('recognises a retry by the one canonical event (same-event.ts): equal {type, at, machineVersion, data}, keys in any order', async () => {
      const key = freshKey('same');
      const original = newEvent('A', { b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'ü' }, gone: undefined });
      const first = await log.append(key, original, 0);
      const reordered = {
        data: { a: { c: 'ü', d: [1, { x: 1, y: 2 }] }, b: 1 },
        machineVersion: original.machineVersion,
        at: original.at,
        type: 'A',
      };
      expect(canonicalEvent(reordered)).toBe(canonicalEvent(original));
      const again = await log.append(key, reordered, 0);
      expect(again).toEqual(first);
      expect(canonicalEvent(again)).toBe(canonicalEvent(first));
      expect(await log.read(key)).toEqual([first]);
    });

    const differences: Array<[string, (ev: NewEvent) => NewEvent]> = [
      ['at (1 ms later)', (ev) => ({ ...ev, at: new Date(Date.parse(ev.at) + 1).toISOString() })],
      ['machineVersion', (ev) => ({ ...ev, machineVersion: ev.machineVersion + 1 })],
      ['type', (ev) => ({ ...ev, type: `${ev.type}x` })],
      ['the order of an array in data', (ev) => ({ ...ev, data: { ...(ev.data as object), list: [2, 1] } })],
      ['a number that became a string', (ev) => ({ ...ev, data: { ...(ev.data as object), n: '1' } })],
      ['an extra key in data', (ev) => ({ ...ev, data: { ...(ev.data as object), extra: null } })],
      ['a nested value', (ev) => ({ ...ev, data: { ...(ev.data as object), deep: { k: 'w' } } })],
    ];
    it.each(differences)(
      'an event differing only in %s at a taken seq is a stale writer, not a retry',
      async (_what, change) => {
        const key = freshKey('differs');
        const original = newEvent('A', { n: 1, list: [1, 2], deep: { k: 'v' } });
        const first = await log.append(key, original, 0);
        const other = change(original);
        expect(canonicalEvent(other)).not.toBe(canonicalEvent(original));
        await expect(log.append(key, other, 0)).rejects.toBeInstanceOf(StaleWriterError);
        expect(await log.read(key)).toEqual([first]);
      },
    );

    it('reads events in seq order and from a given seq', async () => {
      const key = freshKey('order');
      for (let i = 0; i < 12; i++) await log.append(key, newEvent(`E${i}`, { i }), i);
      const all = await log.read(key);
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(all.map((e) => e.data)).toEqual(Array.from({ length: 12 }, (_, i) => ({ i })));
      expect((await log.read(key, 5)).map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
      expect(await log.read(key, 1)).toEqual(all);
      expect(await log.read(key, 13)).toEqual([]);
    });

    it('readAll yields every event of every stream, each stream in seq order; list names them', async () => {
      const keys = [freshKey('all-a'), freshKey('all-b'), freshKey('all-c', OTHER_KIND)];
      for (const [n, key] of keys.entries()) {
        for (let i = 0; i <= n + 1; i++) await log.append(key, newEvent('E', { n, i }), i);
      }
      const wanted = new Set(keys.map(keyText));
      const byKey = new Map<string, number[]>();
      for await (const ev of log.readAll()) {
        const k = keyText(ev);
        if (wanted.has(k)) byKey.set(k, [...(byKey.get(k) ?? []), ev.seq]);
      }
      expect(keys.map((key) => byKey.get(keyText(key)))).toEqual([
        [1, 2],
        [1, 2, 3],
        [1, 2, 3, 4],
      ]);
      expect(await log.list()).toEqual(expect.arrayContaining(keys));
      const listed = await log.list();
      expect(listed).toEqual(
        [...listed].sort((a, b) => (a.kind === b.kind ? (a.id < b.id ? -1 : 1) : a.kind < b.kind ? -1 : 1)),
      );
      expect(await log.list(MIGRATION_KIND)).toEqual(expect.arrayContaining(keys.slice(0, 2)));
      expect((await log.list(MIGRATION_KIND)).every((k) => k.kind === MIGRATION_KIND)).toBe(true);
      expect((await log.list(OTHER_KIND)).map(keyText)).toContain(keyText(keys[2]!));
      expect((await log.list(OTHER_KIND)).every((k) => k.kind === OTHER_KIND)).toBe(true);
    });

    it('two kinds with the same id are two streams: appends, retries, reads and lists never mix them', async () => {
      const id = freshId('same-id');
      const a = { kind: MIGRATION_KIND, id };
      const b = { kind: OTHER_KIND, id };
      // the very same event at seq 1 of both: each is stored (not taken for a retry of the other)
      const firstA = await log.append(a, newEvent('Started', { n: 1 }), 0);
      const firstB = await log.append(b, newEvent('Started', { n: 1 }), 0);
      expect(firstA).toMatchObject({ kind: MIGRATION_KIND, id, seq: 1 });
      expect(firstB).toMatchObject({ kind: OTHER_KIND, id, seq: 1 });
      await log.append(a, newEvent('A2'), 1);
      // a's seq does not move b's: b's next is seq 2, and a writer of b that thinks b is at seq 2 is stale
      await expect(log.append(b, newEvent('B3'), 2)).rejects.toBeInstanceOf(StaleWriterError);
      await log.append(b, newEvent('B2'), 1);
      await log.append(b, newEvent('B3'), 2);
      // a retry of a's seq 2 is recognised in a, and b's seq 2 is not a's event
      expect(await log.append(a, newEvent('A2'), 1)).toMatchObject({ kind: MIGRATION_KIND, seq: 2, type: 'A2' });
      await expect(log.append(b, newEvent('A2'), 1)).rejects.toBeInstanceOf(StaleWriterError);
      expect((await log.read(a)).map((e) => `${e.kind}:${e.seq}:${e.type}`)).toEqual([
        `${MIGRATION_KIND}:1:Started`,
        `${MIGRATION_KIND}:2:A2`,
      ]);
      expect((await log.read(b)).map((e) => `${e.kind}:${e.seq}:${e.type}`)).toEqual([
        `${OTHER_KIND}:1:Started`,
        `${OTHER_KIND}:2:B2`,
        `${OTHER_KIND}:3:B3`,
      ]);
      const listed = (await log.list()).filter((k) => k.id === id);
      expect(listed).toEqual([b, a].sort((x, y) => (x.kind < y.kind ? -1 : 1)));
      const seen: string[] = [];
      for await (const ev of log.readAll()) if (ev.id === id) seen.push(`${ev.kind}:${ev.seq}`);
      expect(seen.filter((x) => x.startsWith(`${MIGRATION_KIND}:`))).toEqual([
        `${MIGRATION_KIND}:1`,
        `${MIGRATION_KIND}:2`,
      ]);
      expect(seen.filter((x) => x.startsWith(`${OTHER_KIND}:`))).toEqual([
        `${OTHER_KIND}:1`,
        `${OTHER_KIND}:2`,
        `${OTHER_KIND}:3`,
      ]);
      expect(log.locate(a)).not.toBe(log.locate(b));
    });

    it.each([
      ['an empty kind', ''],
      ['a kind with a dot', 'Stateful.Migration'],
      ['a kind with a slash', 'a/b'],
      ['a wildcard', '*'],
      ['a kind starting with a digit', '1Migration'],
      ['a kind with a space', 'Volume Resize'],
    ])('a key with %s is refused (INVALID_INPUT) and nothing is stored', async (_what, kind) => {
      const key = { kind, id: freshId('bad-kind') };
      await expect(log.append(key, newEvent('E'), 0)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(log.read(key)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect((await log.list()).some((k) => k.id === key.id)).toBe(false);
    });

    it('watch yields only events appended after it started, in order, and stops when aborted', async () => {
      const key = freshKey('watch');
      const other = freshKey('watch-other');
      const sameIdOtherKind = { kind: OTHER_KIND, id: key.id };
      await log.append(key, newEvent('Before1'), 0);
      await log.append(key, newEvent('Before2'), 1);
      const controller = new AbortController();
      const watched = collectUntil(log.watch({ ...key, signal: controller.signal }), (ev) => ev.seq === 6);
      for (let seq = 2; seq < 6; seq++) {
        await log.append(other, newEvent('Elsewhere'), seq - 2);
        await log.append(sameIdOtherKind, newEvent('OtherKind'), seq - 2);
        await log.append(key, newEvent(`After${seq + 1}`), seq);
      }
      const seen = await watched;
      // A watch may start a moment after the call; what it yields is a gapless, in-order suffix ending at 6.
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((ev) => ev.kind === key.kind && ev.id === key.id && ev.seq > 2)).toBe(true);
      const firstSeq = seen[0]?.seq ?? 0;
      expect(seen.map((ev) => ev.seq)).toEqual(Array.from({ length: 7 - firstSeq }, (_, i) => firstSeq + i));
      expect(seen.map((ev) => ev.type)).toEqual(seen.map((ev) => `After${ev.seq}`));

      const pending = log
        .watch({ ...key, signal: controller.signal })
        [Symbol.asyncIterator]()
        .next();
      controller.abort();
      expect(await pending).toMatchObject({ done: true });
    });

    it('watch without an id sees new events of every stream (or of one kind), each in seq order', async () => {
      const keys = [freshKey('watch-all-a'), freshKey('watch-all-b'), freshKey('watch-all-c', OTHER_KIND)];
      const wanted = new Set(keys.map(keyText));
      const controller = new AbortController();
      const seen: EventEnvelope[] = [];
      const ofKind: EventEnvelope[] = [];
      const reachedThree = (list: EventEnvelope[], ks: StreamKey[]) =>
        ks.every((k) => list.some((e) => keyText(e) === keyText(k) && e.seq === 3));
      const kindDone = (async () => {
        for await (const ev of log.watch({ kind: OTHER_KIND, signal: controller.signal })) {
          ofKind.push(ev);
          if (reachedThree(ofKind, keys.slice(2))) break;
        }
      })();
      const done = (async () => {
        for await (const ev of log.watch({ signal: controller.signal })) {
          if (!wanted.has(keyText(ev))) continue;
          seen.push(ev);
          if (reachedThree(seen, keys)) controller.abort();
        }
      })();
      for (let seq = 0; seq < 3; seq++) {
        for (const key of keys) await log.append(key, newEvent('E', { seq }), seq);
      }
      await Promise.all([done, kindDone]);
      for (const key of keys) {
        const seqs = seen.filter((e) => keyText(e) === keyText(key)).map((e) => e.seq);
        expect(seqs.at(-1)).toBe(3);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 4 - seqs.length + i));
      }
      expect(ofKind.every((e) => e.kind === OTHER_KIND)).toBe(true);
    });

    it('a watch of an id without its kind is refused (ids are per kind)', () => {
      expect(() => log.watch({ id: 'default/m1' })).toThrow(/needs its kind/);
    });

    it('many concurrent appenders racing on one migration leave a gapless log with every event exactly once', async () => {
      const key = freshKey('race');
      const writers = 8;
      const perWriter = 12;
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < perWriter; i++) await appendWithRetry(log, key, newEvent('Raced', { w, i }));
        }),
      );
      const events = await log.read(key);
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: writers * perWriter }, (_, i) => i + 1));
      const keys = events.map((e) => JSON.stringify(e.data)).sort();
      const expected = Array.from({ length: writers * perWriter }, (_, k) =>
        JSON.stringify({ w: Math.floor(k / perWriter), i: k % perWriter }),
      ).sort();
      expect(keys).toEqual(expected);
    });
  });
}
