/**
 * The VolumeResize controller, run by the operator process beside the StatefulMigration one (operator.ts starts
 * and stops it with the leader lease) on the shared controller loop (resource-controller.ts): one VolumeResize
 * host per resource with status/Events/metrics as observers, and a finalizer: deleting a running resize cancels
 * it, its rollback removes the temp claims and migrator pods it created (old PVs stay retained), then the
 * finalizer goes.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../adapters/clock/port.ts';
import { toMs2mError } from '../../adapters/errors.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import type { Cluster } from '../../adapters/kubernetes/port.ts';
import type { SnapshotCache } from '../../adapters/snapshot-cache/port.ts';
import type { VolumeOps } from '../../adapters/volumes/port.ts';
import type { VolumeResizeSnapshot } from '../../machines/volume-resize-chart.ts';
import { VolumeResizeHost, volumeResizeChart } from '../charts/volume-resize.ts';
import { volumeResizeResource } from '../crd/volume-resize.ts';
import { normalizeVolumeResizeSpec } from '../volume-resize-spec.ts';
import { resourceOf } from './migration-observers.ts';
import { createResourceController, type LeaderTask } from './resource-controller.ts';
import {
  createVolumeResizeMetrics,
  type VolumeResizeClient,
  type VolumeResizeMetrics,
  vrCrStatusObserver,
  vrEventsObserver,
} from './volume-resize-observers.ts';

export const VR_FINALIZER = 'storage.ms2m.io/finalizer';
export const VR_API_VERSION = `${volumeResizeResource.group}/${volumeResizeResource.version}`;

export interface VolumeResizeControllerDeps {
  logger: Logger;
  client: VolumeResizeClient;
  volumes: VolumeOps;
  /** For Kubernetes Events. */
  cluster: Pick<Cluster, 'recordEvent'>;
  clock: Clock;
  log: EventLog;
  snapshots?: SnapshotCache;
  /** The operator's metrics registry; the VolumeResize metrics are added to it. */
  metrics?: VolumeResizeMetrics;
  pollMs?: number;
  /** Default image of migrator and probe pods (MS2M_MIGRATOR_IMAGE), unless spec.migratorImage names one. */
  migratorImage?: string;
  runtime?: { maxAttempts?: number; retryBaseMs?: number };
  concurrency?: number;
  resyncMs?: number;
}

export { createVolumeResizeMetrics };

/**
 * @example
 * ```ts
 * const resizes = createVolumeResizeController({ logger, client, volumes, cluster, clock, log });
 * resizes.startLeading(); // operator.ts does this when it becomes the leader
 * ```
 */
export function createVolumeResizeController(deps: VolumeResizeControllerDeps): LeaderTask<VolumeResizeSnapshot> {
  const log = deps.logger.child({ component: 'volume-resize-controller' });
  return createResourceController({
    kind: 'VolumeResize',
    apiVersion: VR_API_VERSION,
    finalizer: VR_FINALIZER,
    logField: 'resize',
    logger: log,
    client: deps.client,
    cluster: deps.cluster,
    chart: volumeResizeChart,
    metrics: deps.metrics,
    concurrency: deps.concurrency ?? 4,
    resyncMs: deps.resyncMs ?? 300_000,
    now: () => deps.clock.now(),
    openHost: (r, id, signal) =>
      VolumeResizeHost.open({
        id,
        deps: {
          volumes: deps.volumes,
          clock: deps.clock,
          logger: deps.logger.child({ resize: id }),
          pollMs: deps.pollMs ?? 500,
          log: deps.log,
          snapshots: deps.snapshots,
        },
        observers: [
          vrCrStatusObserver(deps.client, resourceOf(r), () => deps.log.locate({ kind: volumeResizeChart.kind, id })),
          vrEventsObserver(deps.cluster as Cluster, resourceOf(r), deps.metrics, VR_API_VERSION, log),
        ],
        signal,
      }),
    normalize: (r) =>
      normalizeVolumeResizeSpec(resourceOf(r), r.spec, { ...deps.runtime, migratorImage: deps.migratorImage }),
    // a failed resize is rolling back already: a cancel would change nothing
    cancelWouldChange: (s) => s.status !== 'done' && !s.context.failure,
    instrument: (k, reconcile) =>
      reconcile().catch((err: unknown) => {
        log.warn({ resize: k, err: toMs2mError(err).message }, 'Reconcile of a VolumeResize failed; retrying');
        throw err;
      }),
  });
}
