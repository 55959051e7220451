/**
 * Recording Kubernetes Events for a resource's committed events, as the operator's observers do for every chart
 * (migration-observers.ts, volume-resize-observers.ts).
 */
import type { Logger } from 'pino';
import { toMs2mError } from '../../adapters/errors.ts';
import type { Cluster, ObjectRef } from '../../adapters/kubernetes/port.ts';

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
