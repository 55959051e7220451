/**
 * Decides when a queue depth reading may be trusted to say "drained". AMQP's message count is fresh but counts
 * ready messages only; the management API has unacknowledged messages too but its statistics lag up to one
 * collection interval. A zero is `settled` only when AMQP has shown ready = 0 continuously since some time t0
 * and a management sample taken at least one lag window after t0 also shows ready = unacked = 0: any message
 * delivered but not yet acknowledged since t0 would still appear in that sample.
 */

import type { QueueSample } from './management.ts';
import type { QueueDepth } from './port.ts';

/**
 * The settle rule for one queue; feed it every reading in order.
 *
 * @example
 * ```ts
 * const reading = new DepthReading(13_000);
 * const d = reading.next(amqpReadyCount, await fetchQueueSample(mgmtUrl, brokerUrl, queue), Date.now());
 * if (d.depth === 0 && d.settled) drained();
 * ```
 */
export class DepthReading {
  private readyZeroSince: number | undefined;

  constructor(private readonly lagMs: number) {}

  /** Combines one AMQP ready count (read at `now`) with the latest management sample (or null when unavailable). */
  next(amqpReady: number, sample: QueueSample | null, now: number): QueueDepth {
    if (amqpReady > 0) this.readyZeroSince = undefined;
    else this.readyZeroSince ??= now;
    const unacked = sample?.unacked ?? 0;
    const depth = amqpReady + unacked;
    const covered =
      this.readyZeroSince !== undefined && sample !== null && sample.takenAt - this.lagMs >= this.readyZeroSince;
    const settled = sample !== null && (depth > 0 || (covered && sample.ready === 0 && sample.unacked === 0));
    return {
      depth,
      ready: amqpReady,
      unacked,
      ...(sample?.consumerRate === undefined ? {} : { consumerRate: sample.consumerRate }),
      ...(sample?.producerRate === undefined ? {} : { producerRate: sample.producerRate }),
      settled,
    };
  }

  /** Forget history (after a reconnect the broker may have restarted: counts start over). */
  reset(): void {
    this.readyZeroSince = undefined;
  }
}
