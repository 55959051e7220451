/**
 * The VolumeResize controller on the real ports, for the operator process: the VolumeResize client of the API
 * server, the Kubernetes VolumeOps adapter, and the default migrator image from MS2M_MIGRATOR_IMAGE.
 *
 * @example
 * ```ts
 * const operator = createOperator({ ...deps, volumeResizes: realVolumeResizeController({ kubeConfig: kc,
 *   namespace: o.namespace, cluster, clock, log, logger, registry: metrics.registry }) });
 * ```
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from '../../adapters/clock/port.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import type { Cluster } from '../../adapters/kubernetes/port.ts';
import type { SnapshotCache } from '../../adapters/snapshot-cache/port.ts';
import { KubeVolumes } from '../../adapters/volumes/kubernetes.ts';
import type { VolumeResizeSnapshot } from '../../machines/volume-resize-chart.ts';
import { volumeResizeResource } from '../crd/volume-resize.ts';
import type { LeaderTask } from './resource-controller.ts';
import { createVolumeResizeController } from './volume-resize-controller.ts';
import { createVolumeResizeMetrics, type VolumeResizeClient } from './volume-resize-observers.ts';

export function realVolumeResizeController(o: {
  kubeConfig: KubeConfig;
  /** Watch one namespace (default: all). */
  namespace?: string;
  cluster: Pick<Cluster, 'recordEvent'>;
  clock: Clock;
  log: EventLog;
  logger: Logger;
  snapshots?: SnapshotCache;
  registry?: Registry;
  migratorImage?: string;
}): LeaderTask<VolumeResizeSnapshot> {
  const client: VolumeResizeClient = new CustomResourceClient(
    o.kubeConfig,
    {
      group: volumeResizeResource.group,
      version: volumeResizeResource.version,
      plural: volumeResizeResource.plural,
      kind: volumeResizeResource.kind,
    },
    o.namespace,
  );
  return createVolumeResizeController({
    logger: o.logger,
    client,
    volumes: new KubeVolumes({ kubeConfig: o.kubeConfig, logger: o.logger }),
    cluster: o.cluster,
    clock: o.clock,
    log: o.log,
    snapshots: o.snapshots,
    metrics: o.registry ? createVolumeResizeMetrics(o.registry) : undefined,
    migratorImage: o.migratorImage ?? process.env.MS2M_MIGRATOR_IMAGE,
  });
}
