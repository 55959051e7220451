import { type EventEnvelope, keyText, type NewEvent, type StreamKey, storedEnvelope } from '../../machines/envelope.ts';
import type { EventLog, WatchOptions } from './port.ts';
import {
  assertKind,
  assertStreamKey,
  compareKeys,
  EventLogUnavailableError,
  StaleWriterError,
  watchFilter,
} from './port.ts';
import { isSameEvent } from './same-event.ts';

/** In-memory {@link EventLog} with extra test hooks. */
export interface MemoryEventLog extends EventLog {
  /** Every stored event of every stream, in append order across streams (synchronous, for assertions). */
  snapshot(): EventEnvelope[];
}

/**
 * In-memory event log with the full contract (seq from 1 without gaps, compare-and-set, idempotent retry,
 * watch). No timers and no I/O: every operation settles within the current microtask queue, so fast tests
 * and property tests can run thousands of migrations per second.
 *
 * @example
 * ```ts
 * const log = createMemoryEventLog();
 * const key = { kind: 'StatefulMigration', id: 'default/m1' };
 * const ev = await log.append(key, { type: 'MigrationRequested', at: '2026-01-01T00:00:00.000Z',
 *   machineVersion: 1, data: {} }, 0); // ev.seq === 1
 * await log.append(key, ev, 0); // same event again: returns the stored ev (lost-ack retry)
 * ```
 */
export function createMemoryEventLog(): MemoryEventLog {
  const streams = new Map<string, { key: StreamKey; events: EventEnvelope[] }>();
  const all: EventEnvelope[] = [];
  const listeners = new Set<(ev: EventEnvelope) => void>();
  const stops = new Set<() => void>();
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new EventLogUnavailableError('memory event log is closed');
  };
  // Callers get copies, so mutating what came back cannot rewrite history.
  const copy = (ev: EventEnvelope): EventEnvelope => structuredClone(ev);

  return {
    async append(key: StreamKey, event: NewEvent, expectSeq: number): Promise<EventEnvelope> {
      assertOpen();
      assertStreamKey(key);
      if (!Number.isInteger(expectSeq) || expectSeq < 0) throw new TypeError('expectSeq must be an integer >= 0');
      const k = keyText(key);
      const stream = streams.get(k)?.events ?? [];
      if (stream.length !== expectSeq) {
        const taken = stream[expectSeq];
        if (taken && isSameEvent(taken, event)) return copy(taken);
        throw new StaleWriterError(key, expectSeq, stream.length);
      }
      const stored: EventEnvelope = structuredClone(storedEnvelope(key, expectSeq + 1, event));
      stream.push(stored);
      streams.set(k, { key: { kind: key.kind, id: key.id }, events: stream });
      all.push(stored);
      for (const listener of listeners) listener(stored);
      return copy(stored);
    },

    async read(key: StreamKey, fromSeq = 1): Promise<EventEnvelope[]> {
      assertOpen();
      assertStreamKey(key);
      return (streams.get(keyText(key))?.events ?? []).slice(Math.max(0, fromSeq - 1)).map(copy);
    },

    async *readAll(): AsyncIterable<EventEnvelope> {
      assertOpen();
      for (const s of [...streams.values()].sort((a, b) => compareKeys(a.key, b.key))) {
        for (const ev of s.events) yield copy(ev);
      }
    },

    async list(kind?: string): Promise<StreamKey[]> {
      assertOpen();
      if (kind !== undefined) assertKind(kind);
      return [...streams.values()]
        .map((s) => ({ ...s.key }))
        .filter((k) => kind === undefined || k.kind === kind)
        .sort(compareKeys);
    },

    watch(opts: WatchOptions = {}): AsyncIterable<EventEnvelope> {
      assertOpen();
      const match = watchFilter(opts);
      // Subscribe now, not on first next(): events appended after watch() returns are never missed.
      const queue: EventEnvelope[] = [];
      let wake: (() => void) | undefined;
      let done = false;
      const listener = (ev: EventEnvelope) => {
        if (!match(ev)) return;
        queue.push(copy(ev));
        wake?.();
      };
      const stop = () => {
        done = true;
        listeners.delete(listener);
        wake?.();
      };
      listeners.add(listener);
      stops.add(stop);
      if (opts.signal?.aborted) stop();
      opts.signal?.addEventListener('abort', stop, { once: true });
      return {
        async *[Symbol.asyncIterator]() {
          try {
            while (!done) {
              const ev = queue.shift();
              if (ev) {
                yield ev;
                continue;
              }
              await new Promise<void>((resolve) => {
                wake = resolve;
              });
              wake = undefined;
            }
          } finally {
            stop();
            stops.delete(stop);
            opts.signal?.removeEventListener('abort', stop);
          }
        },
      };
    },

    locate: (key: StreamKey) => `memory:${key.kind}/${key.id}`,

    async close(): Promise<void> {
      closed = true;
      for (const stop of stops) stop();
    },

    snapshot: () => all.map(copy),
  };
}
