/**
 * What the operator does with a migration's committed events, outside the write path (observers.ts):
 * the status projection PATCHed to `/status`, a Kubernetes Event per phase change and failure, and metrics.
 */
import type { Logger } from 'pino';
import type { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import type { Cluster, ObjectRef } from '../../adapters/kubernetes/port.ts';
import type { MigrationSnapshot } from '../../machines/migration-chart.ts';
import { migrationChart } from '../charts/migration.ts';
import type { StatefulMigrationSpecInput, StatefulMigrationStatusWire } from '../crd/stateful-migration.ts';
import { goDuration } from '../go-duration.ts';
import type { Committed, HostObserver } from '../observers.ts';
import { projectStatus, statusObserver } from '../status.ts';
import { type EventToRecord, kubeEventsObserver } from './kube-events.ts';
import type { OperatorMetrics } from './metrics.ts';

export type MigrationClient = CustomResourceClient<StatefulMigrationSpecInput, StatefulMigrationStatusWire>;

/** The resource a migration belongs to (namespace, name and the UID its log is keyed by). */
export interface MigrationResource {
  namespace: string;
  name: string;
  uid: string;
  generation?: number;
}

/** The resource a custom resource object is (its metadata's namespace, name, UID and generation). */
export const resourceOf = (o: { metadata: MigrationResource }): MigrationResource => ({
  namespace: o.metadata.namespace,
  name: o.metadata.name,
  uid: o.metadata.uid,
  generation: o.metadata.generation,
});

const phaseOf = (s: MigrationSnapshot): string => migrationChart.phaseOf(s);

/**
 * The status projection (conditions folded over the events, so `lastTransitionTime` is the time of the event
 * that flipped each one), merge-patched onto the resource with the resolved transfer mode and SHADOW's `Total`
 * timing. A batch writes once; a failed PATCH is retried by the observer loop, never by the migration.
 *
 * @example
 * ```ts
 * const status = crStatusObserver(client, { namespace, name, uid, generation }, () => log.locate(key));
 * ```
 */
export function crStatusObserver(
  client: MigrationClient,
  cr: MigrationResource,
  eventLog: () => string,
): HostObserver<MigrationSnapshot> {
  let last: MigrationSnapshot | undefined;
  const inner = statusObserver({
    extra: () => ({ eventLog: eventLog(), generation: cr.generation }),
    write: async (_id, projected) => {
      const snapshot = last as MigrationSnapshot;
      const status: StatefulMigrationStatusWire = {
        ...(projected as StatefulMigrationStatusWire),
        transferMode: snapshot.context.spec.transferMode,
        ...(snapshot.status === 'done'
          ? { phaseTimings: { ...projected.phaseTimings, Total: goDuration(totalMs(snapshot)) } }
          : {}),
      };
      await client.patchStatus(cr.namespace, cr.name, status);
    },
  });
  return {
    name: inner.name,
    observe(batch) {
      last = batch.at(-1)?.snapshot ?? last;
      return inner.observe(batch);
    },
  };
}

const totalMs = (s: MigrationSnapshot): number => (s.context.completionTime ?? s.context.now) - s.context.startTime;

/** A failure's reason for Events and the outcome metric: the Failed condition's reason of the projection. */
const failureReason = (s: MigrationSnapshot): string =>
  projectStatus(s).conditions.find((c) => c.type === 'Failed')?.reason ?? 'Failed';

/**
 * Kubernetes Events (kubebuilder style) and metrics for events this operator committed; events replayed from the
 * log at open were reported by whoever committed them. Metrics are counted once per event; an Event the API server
 * refuses for good (no permission, invalid) is logged and skipped, since Events are a courtesy that must never hold
 * a migration's finalizer; a transient failure is retried by the observer loop.
 */
export function eventsObserver(
  cluster: Cluster,
  cr: MigrationResource,
  metrics: OperatorMetrics | undefined,
  apiVersion: string,
  logger: Logger,
): HostObserver<MigrationSnapshot> {
  const ref: ObjectRef = { apiVersion, kind: 'StatefulMigration', namespace: cr.namespace, name: cr.name, uid: cr.uid };
  return kubeEventsObserver<MigrationSnapshot>({
    name: 'events',
    cluster,
    ref,
    logger,
    logField: 'migration',
    count: (before, c) => count(metrics, before, c),
    eventsFor,
  });
}

function count(metrics: OperatorMetrics | undefined, before: MigrationSnapshot, c: Committed<MigrationSnapshot>): void {
  if (!metrics) return;
  const { event, snapshot } = c;
  if (event.type === 'ReplayDepthSampled')
    metrics.replayDepth.set({ migration: c.id }, (event.data as { depth: number }).depth);
  if (event.type === 'TransferCompleted') metrics.bytesTransferred.inc((event.data as { bytes: number }).bytes);
  const from = phaseOf(before);
  const to = phaseOf(snapshot);
  if (from === to) return;
  const ended = snapshot.context.phaseTimings[from as keyof typeof snapshot.context.phaseTimings];
  if (ended !== undefined) metrics.phaseDuration.observe({ phase: from }, ended / 1000);
  if (to === 'Completed' || to === 'Failed') {
    metrics.outcomes.inc({ outcome: to, reason: to === 'Completed' ? 'Completed' : failureReason(snapshot) });
    metrics.replayDepth.remove({ migration: c.id });
  }
}

function eventsFor(before: MigrationSnapshot, c: Committed<MigrationSnapshot>): EventToRecord[] {
  const { snapshot } = c;
  const from = phaseOf(before);
  const to = phaseOf(snapshot);
  const out: EventToRecord[] = [];
  const failure = snapshot.context.failure;
  if (failure && !before.context.failure && to !== 'Failed')
    out.push({
      type: 'Warning',
      reason: failureReason(snapshot),
      message: `Started compensation in phase ${from}: ${failure.message}`,
    });
  if (from === to) return out;
  const ended = snapshot.context.phaseTimings[from as keyof typeof snapshot.context.phaseTimings];
  const spec = snapshot.context.spec;
  if (to === 'Completed')
    out.push({
      type: 'Normal',
      reason: 'Completed',
      message: `Migrated Pod ${spec.namespace}/${spec.sourcePod} to node ${spec.targetNode} in ${goDuration(totalMs(snapshot))}`,
    });
  else if (to === 'Failed')
    out.push({
      type: 'Warning',
      reason: failureReason(snapshot),
      message: `Failed migration: ${snapshot.context.message}`,
    });
  else {
    const took = ended === undefined ? '' : ` after ${from} took ${goDuration(ended)}`;
    out.push({ type: 'Normal', reason: to, message: `Started phase ${to}${took}` });
  }
  return out;
}
