/**
 * The VolumeResize controller, run by the operator process beside the StatefulMigration one (operator.ts starts
 * and stops it with the leader lease): list+watch of VolumeResizes (ResourceInformer), a level-triggered reconcile
 * per resource (WorkQueue), one VolumeResize host per resource rebuilt from the event log, status/Events/metrics
 * as observers, and a finalizer: deleting a running resize cancels it, its rollback removes the temp claims and
 * migrator pods it created (old PVs stay retained), then the finalizer goes.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../adapters/clock/port.ts';
import { ErrorCode, Ms2mError, toMs2mError } from '../../adapters/errors.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import type { CustomResource } from '../../adapters/kubernetes/custom-resources.ts';
import type { Cluster } from '../../adapters/kubernetes/port.ts';
import type { SnapshotCache } from '../../adapters/snapshot-cache/port.ts';
import type { VolumeOps } from '../../adapters/volumes/port.ts';
import type { VolumeResizeSnapshot } from '../../machines/volume-resize-chart.ts';
import type { VolumeResizeSpec } from '../../machines/volume-resize-spec.ts';
import { VolumeResizeHost, volumeResizeChart } from '../charts/volume-resize.ts';
import { type VolumeResizeSpecInput, type VolumeResizeStatusWire, volumeResizeResource } from '../crd/volume-resize.ts';
import { normalizeVolumeResizeSpec } from '../volume-resize-spec.ts';
import { resourceOf } from './migration-observers.ts';
import { ResourceInformer } from './resource-informer.ts';
import {
  createVolumeResizeMetrics,
  type VolumeResizeClient,
  type VolumeResizeMetrics,
  vrCrStatusObserver,
  vrEventsObserver,
} from './volume-resize-observers.ts';
import { WorkQueue } from './work-queue.ts';

export const VR_FINALIZER = 'storage.ms2m.io/finalizer';
export const VR_API_VERSION = `${volumeResizeResource.group}/${volumeResizeResource.version}`;
const TERMINAL = new Set(volumeResizeChart.terminalPhases);

type Resize = CustomResource<VolumeResizeSpecInput, VolumeResizeStatusWire>;

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

/** What the operator drives: started when it leads, stopped (every host at once) when it stops leading. */
export interface LeaderTask {
  startLeading(): void;
  stopLeading(why: string): Promise<void>;
  readonly synced: boolean;
  idle(): Promise<void>;
  running(): Map<string, VolumeResizeSnapshot | null>;
}

/** The event log key of a resource: its UID too, so a new resource with a reused name never resumes an old log. */
export const resizeIdOf = (r: { namespace: string; name: string; uid: string }): string =>
  `${r.namespace}/${r.name}/${r.uid}`;

const key = (r: Resize): string => `${r.metadata.namespace}/${r.metadata.name}`;

export { createVolumeResizeMetrics };

/**
 * @example
 * ```ts
 * const resizes = createVolumeResizeController({ logger, client, volumes, cluster, clock, log });
 * resizes.startLeading(); // operator.ts does this when it becomes the leader
 * ```
 */
export function createVolumeResizeController(deps: VolumeResizeControllerDeps): LeaderTask {
  const log = deps.logger.child({ component: 'volume-resize-controller' });
  const hosts = new Map<string, { host: VolumeResizeHost; uid: string }>();
  let queue: WorkQueue | null = null;
  let informer: ResourceInformer<Resize> | null = null;
  let hostsAbort = new AbortController();
  let synced = false;

  deps.metrics?.setPhaseSource(function* () {
    for (const r of hosts.values()) {
      const s = r.host.snapshot();
      if (s) yield volumeResizeChart.phaseOf(s);
    }
  });

  const ref = resourceOf;
  const recordEvent = (r: Resize, type: 'Normal' | 'Warning', reason: string, message: string) =>
    deps.cluster
      .recordEvent({ apiVersion: VR_API_VERSION, kind: 'VolumeResize', ...ref(r) }, type, reason, message)
      .catch((err: Error) => log.warn({ resize: key(r), err: err.message }, 'Could not record an Event'));

  async function openHost(r: Resize) {
    const k = key(r);
    const existing = hosts.get(k);
    if (existing && existing.uid === r.metadata.uid && !existing.host.isStopped) return existing;
    if (existing) {
      await existing.host.stop();
      hosts.delete(k);
    }
    const id = resizeIdOf(ref(r));
    const logKey = { kind: volumeResizeChart.kind, id };
    const host = await VolumeResizeHost.open({
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
        vrCrStatusObserver(deps.client, ref(r), () => deps.log.locate(logKey)),
        vrEventsObserver(deps.cluster as Cluster, ref(r), deps.metrics, VR_API_VERSION, log),
      ],
      signal: hostsAbort.signal,
    });
    const running = { host, uid: r.metadata.uid };
    hosts.set(k, running);
    host.done().then(
      () => queue?.add(k),
      () => undefined,
    );
    return running;
  }

  async function stopHost(k: string) {
    const r = hosts.get(k);
    if (!r) return;
    await r.host.stop();
    hosts.delete(k);
  }

  async function reconcile(k: string): Promise<void> {
    const [namespace, name] = k.split('/') as [string, string];
    const r = informer?.get(k) ?? (await deps.client.get(namespace, name));
    if (!r) return stopHost(k);
    if (r.metadata.deletionTimestamp) return finalize(r);
    const phase = r.status?.phase;
    if (phase && TERMINAL.has(phase) && !r.metadata.finalizers?.includes(VR_FINALIZER) && !hosts.has(k)) return;
    if (!r.metadata.finalizers?.includes(VR_FINALIZER)) {
      if (!(await deps.client.setFinalizer(namespace, name, VR_FINALIZER, true, r))) return;
    }
    const running = await openHost(r);
    const snap = running.host.snapshot();
    if (!snap) return begin(r);
    if (snap.status === 'done') {
      await running.host.idle();
      await deps.client.setFinalizer(namespace, name, VR_FINALIZER, false);
      return stopHost(k);
    }
    if (r.spec.cancel && !snap.context.failure) await running.host.cancel('spec.cancel was set');
  }

  /** A new resource: validate its spec, then record VolumeResizeRequested; a bad spec fails at once. */
  async function begin(r: Resize): Promise<void> {
    const k = key(r);
    const running = hosts.get(k)!;
    let spec: VolumeResizeSpec;
    try {
      spec = normalizeVolumeResizeSpec(ref(r), r.spec, { ...deps.runtime, migratorImage: deps.migratorImage });
    } catch (err) {
      if (!(err instanceof Ms2mError) || err.code !== ErrorCode.INVALID_INPUT) throw err;
      return endBeforeStart(r, 'InvalidSpec', err.message);
    }
    if (r.spec.cancel) return endBeforeStart(r, 'Cancelled', 'Cancelled before it started: nothing was changed');
    const labels = r.metadata.labels;
    await running.host.request(labels && Object.keys(labels).length > 0 ? { spec, labels: { ...labels } } : { spec });
    log.info({ resize: k, uid: r.metadata.uid }, `Started VolumeResize ${k}`);
  }

  async function endBeforeStart(r: Resize, reason: 'InvalidSpec' | 'Cancelled', message: string): Promise<void> {
    await stopHost(key(r));
    const at = new Date(deps.clock.now()).toISOString();
    const condition = (type: string, status: 'True' | 'False') => ({
      type,
      status,
      reason,
      message,
      lastTransitionTime: at,
    });
    await deps.client.patchStatus(r.metadata.namespace, r.metadata.name, {
      phase: 'Failed',
      message,
      observedGeneration: r.metadata.generation,
      completionTime: at,
      conditions: [condition('Ready', 'False'), condition('Failed', 'True'), condition('Progressing', 'False')],
    });
    await recordEvent(r, reason === 'InvalidSpec' ? 'Warning' : 'Normal', reason, message);
    await deps.client.setFinalizer(r.metadata.namespace, r.metadata.name, VR_FINALIZER, false);
  }

  /** Deleting a resource mid-resize: cancel, let the rollback clean up, then release the finalizer. */
  async function finalize(r: Resize): Promise<void> {
    if (!r.metadata.finalizers?.includes(VR_FINALIZER)) return;
    const running = await openHost(r);
    const snap = running.host.snapshot();
    if (snap && snap.status !== 'done') {
      if (!snap.context.failure) await running.host.cancel('the VolumeResize is being deleted');
      return; // done() requeues the key when the rollback has finished
    }
    await running.host.idle();
    await stopHost(key(r));
    await deps.client.setFinalizer(r.metadata.namespace, r.metadata.name, VR_FINALIZER, false);
  }

  return {
    startLeading() {
      synced = false;
      hostsAbort = new AbortController();
      queue = new WorkQueue(
        (k) =>
          reconcile(k).catch((err: unknown) => {
            log.warn({ resize: k, err: toMs2mError(err).message }, 'Reconcile of a VolumeResize failed; retrying');
            throw err;
          }),
        { concurrency: deps.concurrency ?? 4, logger: log },
      );
      const q = queue;
      informer = new ResourceInformer<Resize>({
        client: deps.client,
        logger: log,
        resyncMs: deps.resyncMs ?? 300_000,
        onChange: (r) => q.add(key(r)),
        onSynced: () => {
          synced = true;
        },
      });
      informer.start();
      log.info('Started reconciling VolumeResizes');
    },
    async stopLeading(why) {
      hostsAbort.abort(new Error(why));
      const stopping = [...hosts.values()].map((r) => r.host.stop());
      informer?.stop();
      informer = null;
      const q = queue;
      queue = null;
      synced = false;
      await Promise.all(stopping);
      hosts.clear();
      await q?.shutdown();
    },
    get synced() {
      return synced;
    },
    async idle() {
      await queue?.idle();
    },
    running() {
      return new Map([...hosts].map(([k, r]) => [k, r.host.snapshot()]));
    },
  };
}
