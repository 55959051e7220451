/**
 * The single writer of one host's stream `(kind, id)` in the event log: tasks run on one serial queue, so appends
 * never interleave; each append is write-ahead and compare-and-set on the last seq, with a timestamp that never
 * goes back. A transient log failure is retried with backoff (100 ms doubling to 5 s, on the clock) until the
 * host stops; another writer on the stream (STALE_WRITER) or a permanent failure ends the host.
 */
import type { Logger } from 'pino';
import type { Clock } from '../adapters/clock/port.ts';
import { toMs2mError } from '../adapters/errors.ts';
import { type EventLog, StaleWriterError } from '../adapters/event-log/port.ts';
import type { EventEnvelope, StreamKey } from '../machines/envelope.ts';
import { HostStoppedError } from './host-stopped-error.ts';

export interface StreamWriterOptions {
  key: StreamKey;
  log: EventLog;
  clock: Clock;
  logger: Logger;
  /** The chart's version, stamped on every event as `machineVersion`. */
  machineVersion: number;
  /** Aborted when the host stops: a retry waiting to append gives up with HostStoppedError. */
  signal: AbortSignal;
  /** Told of an append failure that ends the host (stale writer, permanent log error), before it is thrown. */
  onFatal: (err: Error) => void;
}

/** Appends one stream's events in order; `lastSeq` is the seq of the last event read or appended. */
export class StreamWriter {
  private readonly o: StreamWriterOptions;
  private seq = 0;
  private lastAt = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(o: StreamWriterOptions) {
    this.o = o;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Continues after `last`, the last event the log holds (none: a new stream). */
  resumeAfter(last: EventEnvelope | undefined): void {
    this.seq = last?.seq ?? 0;
    this.lastAt = last ? Date.parse(last.at) : 0;
  }

  /** Runs `task` after every task enqueued before it; a failed task does not stop the ones after it. */
  enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves once every task enqueued so far has settled. */
  settled(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  /** Appends `fact` as the next event of the stream (call it from an enqueued task). */
  async append(fact: { type: string; data: unknown }): Promise<EventEnvelope> {
    const { key, log, clock, logger, signal } = this.o;
    const at = Math.max(clock.now(), this.lastAt);
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new HostStoppedError(key, fact.type);
      try {
        const env = await log.append(
          key,
          { type: fact.type, at: new Date(at).toISOString(), machineVersion: this.o.machineVersion, data: fact.data },
          this.seq,
        );
        this.seq = env.seq;
        this.lastAt = at;
        return env;
      } catch (err) {
        if (err instanceof StaleWriterError) {
          this.o.onFatal(err);
          throw err;
        }
        const e = toMs2mError(err);
        if (!e.transient) {
          this.o.onFatal(e);
          throw e;
        }
        if (signal.aborted) throw new HostStoppedError(key, fact.type);
        logger.warn(
          { kind: key.kind, id: key.id, attempt, code: e.code, err: e.message },
          'Event log append failed, retrying',
        );
        try {
          await clock.sleepUntil(clock.now() + Math.min(5000, 100 * 2 ** Math.min(attempt, 6)), signal);
        } catch {
          throw new HostStoppedError(key, fact.type);
        }
      }
    }
  }
}
