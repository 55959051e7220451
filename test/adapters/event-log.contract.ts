import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { StaleWriterError } from '../../adapters/event-log/port.ts';
import { canonicalEvent } from '../../adapters/event-log/same-event.ts';
import type { EventEnvelope, NewEvent } from '../../machines/envelope.ts';
import { MACHINE_VERSION } from '../../machines/envelope.ts';

/** A new event for the contract tests; `data` defaults to something nested and non-ASCII to check round trips. */
export function newEvent(
  type: string,
  data: unknown = { note: 'ünïcødé ✓', nested: { n: 1, list: [1, 'two'] } },
): NewEvent {
  return {
    type,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 123)).toISOString(),
    machineVersion: MACHINE_VERSION,
    data,
  };
}

/** Appends with compare-and-set, re-reading the log and retrying whenever another writer got there first. */
export async function appendWithRetry(log: EventLog, id: string, event: NewEvent): Promise<EventEnvelope> {
  for (;;) {
    const events = await log.read(id);
    try {
      return await log.append(id, event, events.at(-1)?.seq ?? 0);
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
/** Fresh migration ids per test, so implementations that share storage between tests stay isolated. */
function freshId(label: string): string {
  counter += 1;
  return `contract-${process.pid}-${Date.now().toString(36)}/${label}-${counter}`;
}

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
      const id = freshId('seq');
      const first = await log.append(id, newEvent('MigrationRequested'), 0);
      const second = await log.append(id, newEvent('CheckpointCreated', { image: 'x' }), 1);
      expect(first).toEqual({ migrationId: id, seq: 1, ...newEvent('MigrationRequested') });
      expect(second).toMatchObject({ migrationId: id, seq: 2, type: 'CheckpointCreated', data: { image: 'x' } });
      expect(await log.read(id)).toEqual([first, second]);
    });

    it('reads an unknown migration as an empty list', async () => {
      expect(await log.read(freshId('unknown'))).toEqual([]);
    });

    it('rejects a stale writer (expectSeq behind or ahead) with StaleWriterError and stores nothing', async () => {
      const id = freshId('cas');
      await log.append(id, newEvent('A'), 0);
      await log.append(id, newEvent('B'), 1);
      for (const expectSeq of [0, 1, 3, 7]) {
        const err = await log.append(id, newEvent('Other', { expectSeq }), expectSeq).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StaleWriterError);
        expect(err).toMatchObject({ code: 'STALE_WRITER' });
      }
      expect((await log.read(id)).map((e) => e.type)).toEqual(['A', 'B']);
    });

    it('answers a retried append of the same event at the same seq with the stored envelope (lost ack)', async () => {
      const id = freshId('retry');
      const first = await log.append(id, newEvent('A', { k: 1 }), 0);
      expect(await log.append(id, newEvent('A', { k: 1 }), 0)).toEqual(first);
      const second = await log.append(id, newEvent('B', { k: 2 }), 1);
      await log.append(id, newEvent('C'), 2);
      expect(await log.append(id, newEvent('B', { k: 2 }), 1)).toEqual(second);
      expect((await log.read(id)).map((e) => e.seq)).toEqual([1, 2, 3]);
    });

    it('rejects a different event at a taken seq with StaleWriterError', async () => {
      const id = freshId('taken');
      await log.append(id, newEvent('A', { k: 1 }), 0);
      await expect(log.append(id, newEvent('A', { k: 2 }), 0)).rejects.toBeInstanceOf(StaleWriterError);
      await expect(log.append(id, newEvent('Z', { k: 1 }), 0)).rejects.toMatchObject({ code: 'STALE_WRITER' });
      expect(await log.read(id)).toHaveLength(1);
    });

    it('recognises a retry by the one canonical event (same-event.ts): equal {type, at, machineVersion, data}, keys in any order', async () => {
      const id = freshId('same');
      const original = newEvent('A', { b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'ü' }, gone: undefined });
      const first = await log.append(id, original, 0);
      const reordered = {
        data: { a: { c: 'ü', d: [1, { x: 1, y: 2 }] }, b: 1 },
        machineVersion: original.machineVersion,
        at: original.at,
        type: 'A',
      };
      expect(canonicalEvent(reordered)).toBe(canonicalEvent(original));
      const again = await log.append(id, reordered, 0);
      expect(again).toEqual(first);
      expect(canonicalEvent(again)).toBe(canonicalEvent(first));
      expect(await log.read(id)).toEqual([first]);
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
        const id = freshId('differs');
        const original = newEvent('A', { n: 1, list: [1, 2], deep: { k: 'v' } });
        const first = await log.append(id, original, 0);
        const other = change(original);
        expect(canonicalEvent(other)).not.toBe(canonicalEvent(original));
        await expect(log.append(id, other, 0)).rejects.toBeInstanceOf(StaleWriterError);
        expect(await log.read(id)).toEqual([first]);
      },
    );

    it('reads events in seq order and from a given seq', async () => {
      const id = freshId('order');
      for (let i = 0; i < 12; i++) await log.append(id, newEvent(`E${i}`, { i }), i);
      const all = await log.read(id);
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(all.map((e) => e.data)).toEqual(Array.from({ length: 12 }, (_, i) => ({ i })));
      expect((await log.read(id, 5)).map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
      expect(await log.read(id, 1)).toEqual(all);
      expect(await log.read(id, 13)).toEqual([]);
    });

    it('readAll yields every event of every migration, each migration in seq order; list names them', async () => {
      const ids = [freshId('all-a'), freshId('all-b'), freshId('all-c')];
      for (const [n, id] of ids.entries()) {
        for (let i = 0; i <= n + 1; i++) await log.append(id, newEvent('E', { n, i }), i);
      }
      const byId = new Map<string, number[]>();
      for await (const ev of log.readAll()) {
        if (ids.includes(ev.migrationId)) byId.set(ev.migrationId, [...(byId.get(ev.migrationId) ?? []), ev.seq]);
      }
      expect(ids.map((id) => byId.get(id))).toEqual([
        [1, 2],
        [1, 2, 3],
        [1, 2, 3, 4],
      ]);
      expect(await log.list()).toEqual(expect.arrayContaining(ids));
    });

    it('watch yields only events appended after it started, in order, and stops when aborted', async () => {
      const id = freshId('watch');
      const other = freshId('watch-other');
      await log.append(id, newEvent('Before1'), 0);
      await log.append(id, newEvent('Before2'), 1);
      const controller = new AbortController();
      const watched = collectUntil(log.watch({ migrationId: id, signal: controller.signal }), (ev) => ev.seq === 6);
      for (let seq = 2; seq < 6; seq++) {
        await log.append(other, newEvent('Elsewhere'), seq - 2);
        await log.append(id, newEvent(`After${seq + 1}`), seq);
      }
      const seen = await watched;
      // A watch may start a moment after the call; what it yields is a gapless, in-order suffix ending at 6.
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((ev) => ev.migrationId === id && ev.seq > 2)).toBe(true);
      const firstSeq = seen[0]?.seq ?? 0;
      expect(seen.map((ev) => ev.seq)).toEqual(Array.from({ length: 7 - firstSeq }, (_, i) => firstSeq + i));
      expect(seen.map((ev) => ev.type)).toEqual(seen.map((ev) => `After${ev.seq}`));

      const pending = log.watch({ migrationId: id, signal: controller.signal })[Symbol.asyncIterator]().next();
      controller.abort();
      expect(await pending).toMatchObject({ done: true });
    });

    it('watch without a migration id sees new events of every migration, each in seq order', async () => {
      const ids = [freshId('watch-all-a'), freshId('watch-all-b')];
      const controller = new AbortController();
      const seen: EventEnvelope[] = [];
      const done = (async () => {
        for await (const ev of log.watch({ signal: controller.signal })) {
          if (!ids.includes(ev.migrationId)) continue;
          seen.push(ev);
          if (ids.every((id) => seen.some((e) => e.migrationId === id && e.seq === 3))) controller.abort();
        }
      })();
      for (let seq = 0; seq < 3; seq++) {
        for (const id of ids) await log.append(id, newEvent('E', { seq }), seq);
      }
      await done;
      for (const id of ids) {
        const seqs = seen.filter((e) => e.migrationId === id).map((e) => e.seq);
        expect(seqs.at(-1)).toBe(3);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 4 - seqs.length + i));
      }
    });

    it('many concurrent appenders racing on one migration leave a gapless log with every event exactly once', async () => {
      const id = freshId('race');
      const writers = 8;
      const perWriter = 12;
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < perWriter; i++) await appendWithRetry(log, id, newEvent('Raced', { w, i }));
        }),
      );
      const events = await log.read(id);
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: writers * perWriter }, (_, i) => i + 1));
      const keys = events.map((e) => JSON.stringify(e.data)).sort();
      const expected = Array.from({ length: writers * perWriter }, (_, k) =>
        JSON.stringify({ w: Math.floor(k / perWriter), i: k % perWriter }),
      ).sort();
      expect(keys).toEqual(expected);
    });
  });
}
