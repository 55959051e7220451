/**
 * What the operator does with a VolumeResize's committed events, outside the write path (observers.ts): the
 * status projection PATCHed to `/status`, Kubernetes Events (phase changes, each copied volume, failure, rollback)
 * and metrics, as migration-observers.ts does for migrations.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import type { Cluster, ObjectRef } from '../../adapters/kubernetes/port.ts';
import { formatBytes } from '../../machines/quantity.ts';
import type { VolumeResizeSnapshot } from '../../machines/volume-resize-chart.ts';
import type { VolumeResizeSpecInput, VolumeResizeStatusWire } from '../crd/volume-resize.ts';
import type { Committed, HostObserver } from '../observers.ts';
import { vrFailureReason, vrPhaseOf, vrStatusObserver } from '../volume-resize-status.ts';
import { type EventToRecord, kubeEventsObserver } from './kube-events.ts';
import type { MigrationResource } from './migration-observers.ts';

export type VolumeResizeClient = CustomResourceClient<VolumeResizeSpecInput, VolumeResizeStatusWire>;

export interface VolumeResizeMetrics {
  phaseDuration: Histogram<'phase'>;
  outcomes: Counter<'outcome' | 'reason'>;
  bytesCopied: Counter;
  resizesByPhase: Gauge<'phase'>;
  /** Where `ms2m_volume_resizes{phase}` is read from at each scrape (the controller's running hosts). */
  setPhaseSource(source: () => Iterable<string>): void;
}

/**
 * @example
 * ```ts
 * const vrMetrics = createVolumeResizeMetrics(metrics.registry); // beside the migration metrics
 * ```
 */
export function createVolumeResizeMetrics(registry: Registry): VolumeResizeMetrics {
  let phases: () => Iterable<string> = () => [];
  return {
    setPhaseSource(source) {
      phases = source;
    },
    resizesByPhase: new Gauge({
      name: 'ms2m_volume_resizes',
      help: 'VolumeResizes this operator runs, by phase',
      labelNames: ['phase'],
      registers: [registry],
      collect() {
        this.reset();
        for (const phase of phases()) this.inc({ phase });
      },
    }),
    phaseDuration: new Histogram({
      name: 'ms2m_volume_resize_phase_duration_seconds',
      help: 'Time a VolumeResize spent in a phase',
      labelNames: ['phase'],
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400],
      registers: [registry],
    }),
    outcomes: new Counter({
      name: 'ms2m_volume_resizes_finished_total',
      help: 'VolumeResizes that ended, by outcome (Completed, Failed) and reason',
      labelNames: ['outcome', 'reason'],
      registers: [registry],
    }),
    bytesCopied: new Counter({
      name: 'ms2m_volume_resize_bytes_copied_total',
      help: 'Bytes copied and verified by VolumeResize migrator pods',
      registers: [registry],
    }),
  };
}

/** The status projection, merge-patched onto the resource; a batch writes once. */
export function vrCrStatusObserver(
  client: VolumeResizeClient,
  cr: MigrationResource,
  eventLog: () => string,
): HostObserver<VolumeResizeSnapshot> {
  return vrStatusObserver({
    extra: () => ({ eventLog: eventLog(), generation: cr.generation }),
    write: async (status) => {
      await client.patchStatus(cr.namespace, cr.name, status);
    },
  });
}

/** Events and metrics for events this operator committed (kubeEventsObserver: replayed history was reported by its writer). */
export function vrEventsObserver(
  cluster: Cluster,
  cr: MigrationResource,
  metrics: VolumeResizeMetrics | undefined,
  apiVersion: string,
  logger: Logger,
): HostObserver<VolumeResizeSnapshot> {
  const ref: ObjectRef = { apiVersion, kind: 'VolumeResize', namespace: cr.namespace, name: cr.name, uid: cr.uid };
  return kubeEventsObserver<VolumeResizeSnapshot>({
    name: 'volume-resize-events',
    cluster,
    ref,
    logger,
    logField: 'resize',
    count: (before, c) => count(metrics, before, c),
    eventsFor,
  });
}

function count(
  metrics: VolumeResizeMetrics | undefined,
  before: VolumeResizeSnapshot,
  c: Committed<VolumeResizeSnapshot>,
) {
  if (!metrics) return;
  if (c.event.type === 'VolumeCopied') metrics.bytesCopied.inc((c.event.data as { bytesTotal: number }).bytesTotal);
  const from = vrPhaseOf(before);
  const to = vrPhaseOf(c.snapshot);
  if (from === to) return;
  const ended = c.snapshot.context.phaseTimings[from as keyof typeof c.snapshot.context.phaseTimings];
  if (ended !== undefined) metrics.phaseDuration.observe({ phase: from }, ended / 1000);
  if (to === 'Completed' || to === 'Failed')
    metrics.outcomes.inc({ outcome: to, reason: to === 'Completed' ? 'Completed' : vrFailureReason(c.snapshot) });
}

function eventsFor(before: VolumeResizeSnapshot, c: Committed<VolumeResizeSnapshot>): EventToRecord[] {
  const s = c.snapshot;
  const ctx = s.context;
  const out: EventToRecord[] = [];
  if (c.event.type === 'VolumeCopied') {
    const d = c.event.data as { replica: number; volume: string; bytesTotal: number; files: number };
    out.push({
      type: 'Normal',
      reason: 'VolumeCopied',
      message: `Copied and verified ${d.volume}-${ctx.spec.statefulSetName}-${d.replica}: ${formatBytes(d.bytesTotal)} in ${d.files} files`,
    });
  }
  if (c.event.type === 'OriginalClaimRebound') {
    const d = c.event.data as { claim: string; pv: string };
    out.push({ type: 'Normal', reason: 'ClaimRebound', message: `Bound PersistentVolumeClaim ${d.claim} to ${d.pv}` });
  }
  if (ctx.failure && !before.context.failure && s.status !== 'done')
    out.push({
      type: 'Warning',
      reason: vrFailureReason(s),
      message: `Started rollback in phase ${ctx.failure.phase}: ${ctx.failure.message}`,
    });
  const from = vrPhaseOf(before);
  const to = vrPhaseOf(s);
  if (from === to) return out;
  if (to === 'Completed')
    out.push({
      type: 'Normal',
      reason: ctx.spec.dryRun ? 'DryRun' : 'Completed',
      message: ctx.spec.dryRun
        ? `Validated the resize of StatefulSet ${ctx.spec.statefulSetName}: ${ctx.plan.length} planned steps, nothing changed`
        : `Resized ${ctx.units.length} volumes of StatefulSet ${ctx.spec.statefulSetName}`,
    });
  else if (to === 'Failed')
    out.push({ type: 'Warning', reason: vrFailureReason(s), message: `Failed resize: ${ctx.message}` });
  else out.push({ type: 'Normal', reason: to, message: `Started phase ${to}` });
  return out;
}
