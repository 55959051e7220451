/**
 * Observers of a host (any chart): status projection, Kubernetes Events, metrics, UI. They are told of events
 * AFTER the append is committed, on a loop of their own per observer and instance, never inside the write
 * path: an observer that throws, rejects or hangs changes nothing about the instance's course. A failed call is
 * logged (with the kind and id) and retried with backoff; the retry carries everything committed meanwhile, so
 * an observer that needs only the newest state (status) writes once, and one that needs every event has them.
 */
import type { Logger } from 'pino';
import type { Clock } from '../adapters/clock/port.ts';
import { toMs2mError } from '../adapters/errors.ts';
import type { EventEnvelope, StreamKey } from '../machines/envelope.ts';

/** One committed event of stream `(kind, id)` and the instance's snapshot (of type `S`) right after it. */
export interface Committed<S = unknown> {
  kind: string;
  id: string;
  event: EventEnvelope;
  snapshot: S;
  /**
   * True for the history a host read from the log when it opened (delivered once, as the first batch, so a
   * projection can fold it); false for events this host committed. An observer with side effects per event
   * (Kubernetes Events, metrics) skips replayed ones: they were reported by whoever committed them.
   */
  replayed: boolean;
}

/**
 * Something told of committed events.
 *
 * `observe` gets the events committed since its last successful call, oldest first (one, usually). While it runs
 * or after it failed, new events queue up; the next call gets them all together. It may be retried with events
 * it has seen before (a failed call is retried with the same events): an observer with per-event side effects
 * remembers the last seq it handled.
 *
 * @example
 * ```ts
 * const events: HostObserver = {
 *   name: 'kubernetes-events',
 *   async observe(batch) {
 *     for (const c of batch) if (!c.replayed) await recorder.record(c.event);
 *   },
 * };
 * const host = await MigrationHost.open({ id, deps, observers: [statusObserver(...), events] });
 * ```
 */
export interface HostObserver<S = unknown> {
  /** Shown in logs. */
  readonly name: string;
  observe(batch: readonly Committed<S>[]): void | Promise<void>;
}

export interface ObserverRetry {
  /** First wait after a failure (ms); doubles per consecutive failure. Default 200. */
  baseMs: number;
  /** Longest wait (ms). Default 30 000. */
  maxMs: number;
}

export const DEFAULT_OBSERVER_RETRY: ObserverRetry = { baseMs: 200, maxMs: 30_000 };

/**
 * The delivery loop of one observer for one instance. `push` never blocks and never throws; `idle` resolves
 * once everything pushed so far was delivered (or the loop was stopped).
 *
 * @example
 * ```ts
 * const loop = new ObserverLoop(observer, { key, clock, logger, signal });
 * loop.push([{ ...key, event, snapshot, replayed: false }]);
 * await loop.idle();
 * ```
 */
export class ObserverLoop<S = unknown> {
  private pending: Committed<S>[] = [];
  private running = false;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly log: Logger;
  private readonly retry: ObserverRetry;

  constructor(
    private readonly observer: HostObserver<S>,
    private readonly o: {
      key: StreamKey;
      clock: Clock;
      logger: Logger;
      signal: AbortSignal;
      retry?: ObserverRetry;
    },
  ) {
    this.log = o.logger.child({ kind: o.key.kind, id: o.key.id, observer: observer.name });
    this.retry = o.retry ?? DEFAULT_OBSERVER_RETRY;
    o.signal.addEventListener('abort', () => this.settle(), { once: true });
  }

  push(items: readonly Committed<S>[]): void {
    if (this.o.signal.aborted || items.length === 0) return;
    this.pending.push(...items);
    if (this.running) return;
    this.running = true;
    // a separate turn: the observer never runs inside the caller (the append task)
    queueMicrotask(() => void this.run());
  }

  /** Resolves when nothing is pending and no call is in flight, or the loop is stopped. */
  idle(): Promise<void> {
    if ((!this.running && this.pending.length === 0) || this.o.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.pending.length > 0 && !this.o.signal.aborted) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.observer.observe(batch);
        failures = 0;
      } catch (err) {
        failures++;
        // the failed events go first again, with whatever was committed meanwhile after them
        this.pending = [...batch, ...this.pending];
        const e = toMs2mError(err);
        const waitMs = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** Math.min(failures - 1, 20));
        this.log.warn(
          {
            code: e.code,
            err: e.message,
            attempt: failures,
            fromSeq: batch[0]?.event.seq,
            toSeq: batch.at(-1)?.event.seq,
            retryInMs: waitMs,
          },
          'Observer failed, retrying',
        );
        try {
          await this.o.clock.sleepUntil(this.o.clock.now() + waitMs, this.o.signal);
        } catch {
          break; // stopped
        }
      }
    }
    this.running = false;
    this.settle();
  }

  private settle(): void {
    if (this.o.signal.aborted) this.pending = [];
    if (this.running && !this.o.signal.aborted) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** The deprecated `onEvent` callback of a host as an observer: events the host committed, each once, in order. */
export function onEventObserver<S>(onEvent: (event: EventEnvelope, snapshot: S) => void): HostObserver<S> {
  let lastSeq = 0;
  return {
    name: 'onEvent',
    observe(batch) {
      for (const c of batch) {
        if (c.replayed || c.event.seq <= lastSeq) continue;
        lastSeq = c.event.seq;
        onEvent(c.event, c.snapshot);
      }
    },
  };
}
