/**
 * Recording Kubernetes Events (and counting metrics) for a resource's committed events: the one observer loop of
 * every chart's Events (migration-observers.ts, volume-resize-observers.ts supply what to count and record).
 */
import type { Logger } from 'pino';
import { toMs2mError } from '../../adapters/errors.ts';
import type { Cluster, ObjectRef } from '../../adapters/kubernetes/port.ts';
import type { Committed, HostObserver } from '../observers.ts';

/** One Kubernetes Event to record on the resource. */
export interface EventToRecord {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/**
 * Records `events` on `ref` in order. An Event the API server refuses for good (no permission, invalid) is logged
 * with `fields` and skipped, since Events are a courtesy that must never hold the resource up; a transient
 * failure is thrown, for the observer loop to retry.
 */
export async function recordKubeEvents(
  cluster: Cluster,
  ref: ObjectRef,
  events: readonly EventToRecord[],
  logger: Logger,
  fields: Record<string, unknown>,
): Promise<void> {
  for (const e of events) {
    try {
      await cluster.recordEvent(ref, e.type, e.reason, e.message);
    } catch (err) {
      const m = toMs2mError(err);
      if (m.transient) throw err;
      logger.warn(
        { ...fields, reason: e.reason, code: m.code, err: m.message },
        'Could not record a Kubernetes Event; skipped it',
      );
    }
  }
}

/**
 * The observer that turns a resource's committed events into Kubernetes Events and metrics: for each event this
 * operator committed (events replayed from the log at open were reported by whoever committed them), `count`
 * once, then `eventsFor` recorded on `ref`. A transient failure to record is retried by the observer loop with
 * the same batch: the metrics are not counted again.
 *
 * @example
 * ```ts
 * kubeEventsObserver({ name: 'events', cluster, ref, logger, logField: 'migration', count, eventsFor });
 * ```
 */
export function kubeEventsObserver<S>(o: {
  name: string;
  cluster: Cluster;
  ref: ObjectRef;
  logger: Logger;
  /** The log field naming the resource (`migration`, `resize`). */
  logField: string;
  /** Counts the metrics of `c`, the transition from `before`. */
  count(before: S, c: Committed<S>): void;
  /** The Events to record for the transition from `before` to `c`. */
  eventsFor(before: S, c: Committed<S>): EventToRecord[];
}): HostObserver<S> {
  let handled = 0;
  let counted = 0;
  let previous: S | undefined;
  return {
    name: o.name,
    async observe(batch: readonly Committed<S>[]) {
      for (const c of batch) {
        if (c.event.seq <= handled) continue;
        const before = previous;
        if (!c.replayed && before !== undefined) {
          if (c.event.seq > counted) o.count(before, c);
          counted = c.event.seq;
          await recordKubeEvents(o.cluster, o.ref, o.eventsFor(before, c), o.logger, { [o.logField]: c.id });
        }
        previous = c.snapshot;
        handled = c.event.seq;
      }
    },
  };
}
