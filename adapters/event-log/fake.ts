import type { EventEnvelope, NewEvent } from '../../machines/envelope.ts';
import type { EventLog } from './port.ts';
import { EventLogUnavailableError, StaleWriterError } from './port.ts';
import { isSameEvent } from './same-event.ts';

/** In-memory {@link EventLog} with extra test hooks. */
export interface MemoryEventLog extends EventLog {
  /** Every stored event of every migration, in append order across migrations (synchronous, for assertions). */
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
 * const ev = await log.append('default/m1', { type: 'MigrationRequested', at: '2026-01-01T00:00:00.000Z',
 *   machineVersion: MACHINE_VERSION, data: {} }, 0); // ev.seq === 1
 * await log.append('default/m1', ev, 0); // same event again: returns the stored ev (lost-ack retry)
 * ```
 */
export function createMemoryEventLog(): MemoryEventLog {
  const streams = new Map<string, EventEnvelope[]>();
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
    async append(migrationId: string, event: NewEvent, expectSeq: number): Promise<EventEnvelope> {
      assertOpen();
      if (!Number.isInteger(expectSeq) || expectSeq < 0) throw new TypeError('expectSeq must be an integer >= 0');
      const stream = streams.get(migrationId) ?? [];
      if (stream.length !== expectSeq) {
        const taken = stream[expectSeq];
        if (taken && isSameEvent(taken, event)) return copy(taken);
        throw new StaleWriterError(migrationId, expectSeq, stream.length);
      }
      const stored: EventEnvelope = structuredClone({
        migrationId,
        seq: expectSeq + 1,
        type: event.type,
        at: event.at,
        machineVersion: event.machineVersion,
        data: event.data,
      });
      stream.push(stored);
      streams.set(migrationId, stream);
      all.push(stored);
      for (const listener of listeners) listener(stored);
      return copy(stored);
    },

    async read(migrationId: string, fromSeq = 1): Promise<EventEnvelope[]> {
      assertOpen();
      return (streams.get(migrationId) ?? []).slice(Math.max(0, fromSeq - 1)).map(copy);
    },

    async *readAll(): AsyncIterable<EventEnvelope> {
      assertOpen();
      for (const id of [...streams.keys()].sort()) {
        for (const ev of streams.get(id) ?? []) yield copy(ev);
      }
    },

    async list(): Promise<string[]> {
      assertOpen();
      return [...streams.keys()].sort();
    },

    watch(opts: { migrationId?: string; signal?: AbortSignal } = {}): AsyncIterable<EventEnvelope> {
      assertOpen();
      // Subscribe now, not on first next(): events appended after watch() returns are never missed.
      const queue: EventEnvelope[] = [];
      let wake: (() => void) | undefined;
      let done = false;
      const listener = (ev: EventEnvelope) => {
        if (opts.migrationId !== undefined && ev.migrationId !== opts.migrationId) return;
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

    locate: (migrationId: string) => `memory:${migrationId}`,

    async close(): Promise<void> {
      closed = true;
      for (const stop of stops) stop();
    },

    snapshot: () => all.map(copy),
  };
}
