/**
 * The controller loop the operator process runs once per resource type (StatefulMigration: operator.ts,
 * VolumeResize: volume-resize-controller.ts): list+watch (ResourceInformer), a level-triggered reconcile per
 * resource (WorkQueue, one run in flight per key), one chart host per resource rebuilt from the event log, and a
 * finalizer: nothing starts without it, deleting a running resource cancels it, and the finalizer goes once the
 * chart has finished (compensation or rollback included). It runs while this process leads: stopping it stops
 * every host at once (nothing is appended after `stopLeading` resolves).
 *
 * What differs between the resources comes in as options: how a host is opened (its deps and observers), how
 * a spec is validated, when a cancel still changes anything, and hooks for the extras (metrics, spec edits).
 */
import type { Logger } from 'pino';
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import type { CustomResource, CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import type { Cluster } from '../../adapters/kubernetes/port.ts';
import { resourceOf } from './migration-observers.ts';
import { ResourceInformer } from './resource-informer.ts';
import { WorkQueue } from './work-queue.ts';

/** A resource a controller drives: `spec.cancel` cancels it, `status.phase` says when it has ended. */
export type ControlledResource = CustomResource<{ cancel?: boolean }, { phase?: string }>;

/** The status of a resource that ended before it started (bad spec, cancelled first): nothing to undo. */
export interface EndedBeforeStartStatus {
  phase: 'Failed';
  message: string;
  observedGeneration?: number;
  completionTime: string;
  conditions: Array<{
    type: string;
    status: 'True' | 'False';
    reason: string;
    message: string;
    lastTransitionTime: string;
  }>;
}

/** What a controller calls on the API server for its resource (a CustomResourceClient). */
export interface ControllerClient<R extends ControlledResource>
  extends Pick<CustomResourceClient<R['spec'], R['status']>, 'list' | 'watch'> {
  get(namespace: string, name: string): Promise<R | null>;
  /** Null when the resource is gone. */
  setFinalizer(namespace: string, name: string, finalizer: string, present: boolean, known?: R): Promise<object | null>;
  patchStatus(namespace: string, name: string, status: EndedBeforeStartStatus): Promise<unknown>;
}

/** What a controller uses of a chart's host (actors/host.ts). */
export interface ControlledHost<Spec, S extends { status: string }> {
  readonly isStopped: boolean;
  snapshot(): S | null;
  request(data: { spec: Spec; labels?: Record<string, string> }): Promise<void>;
  cancel(reason: string): Promise<void>;
  done(): Promise<unknown>;
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export interface ResourceControllerOptions<
  R extends ControlledResource,
  Spec,
  S extends { status: string },
  H extends ControlledHost<Spec, S>,
> {
  /** The resource's kind and apiVersion (the object of its Kubernetes Events). */
  kind: string;
  apiVersion: string;
  finalizer: string;
  /** The field naming a resource in log lines (`migration`, `resize`). */
  logField: string;
  logger: Logger;
  client: ControllerClient<R>;
  cluster: Pick<Cluster, 'recordEvent'>;
  /** The chart: a resource in a terminal phase without finalizer is left alone; phases feed the gauge. */
  chart: { readonly terminalPhases: readonly string[]; phaseOf(snapshot: S): string };
  /** Where the `{phase}` gauge of running resources reads them from at each scrape. */
  metrics?: { setPhaseSource(source: () => Iterable<string>): void };
  /** Parallel reconciles (different resources). */
  concurrency: number;
  /** Every resource is reconciled at least this often (ms). */
  resyncMs: number;
  /** The time written into the status of a resource that ended before it started (epoch ms). */
  now(): number;
  /** Opens the host of `r` on event log stream `id`; `signal` aborts when this process stops leading. */
  openHost(r: R, id: string, signal: AbortSignal): Promise<H>;
  /** Validates and resolves the spec; an INVALID_INPUT error ends the resource at once (InvalidSpec). */
  normalize(r: R): Spec;
  /** Whether a cancel still changes a run: every resync would otherwise log another CancelRequested. */
  cancelWouldChange(snapshot: S): boolean;
  /** The Event's message for a resource cancelled before it started (default: its status message). */
  cancelledEventMessage?: string;
  /** Told when adding the finalizer failed, before the queue retries. */
  onFinalizerNotAdded?(r: R, err: unknown): Promise<void>;
  /** Runs at the end of each reconcile of a started, unfinished resource (after a requested cancel). */
  onRunning?(r: R, host: H, snapshot: S): Promise<void>;
  /** Wraps every reconcile (metrics, logging); must call `reconcile` and rethrow its failure. */
  instrument?(key: string, reconcile: () => Promise<void>): Promise<void>;
}

/** What the operator drives: started when it leads, stopped (every host at once) when it stops leading. */
export interface LeaderTask<S = unknown> {
  startLeading(): void;
  stopLeading(why: string): Promise<void>;
  /** True once the first list since startLeading has been queued. */
  readonly synced: boolean;
  /** Resolves when the work queue is empty. */
  idle(): Promise<void>;
  /** Snapshots of the resources this process runs now. */
  running(): Map<string, S | null>;
}

export interface ResourceController<R extends ControlledResource, S> extends LeaderTask<S> {
  /** Records a Kubernetes Event on `r`; a failure is logged, never thrown. */
  recordEvent(r: R, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/** The queue key of a resource: `namespace/name`. */
export const resourceKey = (r: { metadata: { namespace: string; name: string } }): string =>
  `${r.metadata.namespace}/${r.metadata.name}`;

/** The event log id of a resource: its UID too, so a new resource with a reused name never resumes an old log. */
export const streamIdOf = (r: { namespace: string; name: string; uid: string }): string =>
  `${r.namespace}/${r.name}/${r.uid}`;

/**
 * @example
 * ```ts
 * const resizes = createResourceController({ kind: 'VolumeResize', apiVersion, finalizer, logField: 'resize',
 *   logger, client, cluster, chart: volumeResizeChart, concurrency: 4, resyncMs: 300_000, now: () => Date.now(),
 *   openHost: (r, id, signal) => VolumeResizeHost.open({ id, deps, signal }),
 *   normalize: (r) => normalizeVolumeResizeSpec(resourceOf(r), r.spec), cancelWouldChange: (s) => !s.context.failure });
 * resizes.startLeading();
 * ```
 */
export function createResourceController<
  R extends ControlledResource,
  Spec,
  S extends { status: string },
  H extends ControlledHost<Spec, S>,
>(o: ResourceControllerOptions<R, Spec, S, H>): ResourceController<R, S> {
  const log = o.logger;
  const terminal = new Set(o.chart.terminalPhases);
  const hosts = new Map<string, { host: H; uid: string }>();
  let queue: WorkQueue | null = null;
  let informer: ResourceInformer<R> | null = null;
  let hostsAbort = new AbortController();
  let synced = false;

  o.metrics?.setPhaseSource(function* () {
    for (const r of hosts.values()) {
      const s = r.host.snapshot();
      if (s) yield o.chart.phaseOf(s);
    }
  });

  const recordEvent = (r: R, type: 'Normal' | 'Warning', reason: string, message: string) =>
    o.cluster
      .recordEvent({ apiVersion: o.apiVersion, kind: o.kind, ...resourceOf(r) }, type, reason, message)
      .catch((err: Error) => log.warn({ [o.logField]: resourceKey(r), err: err.message }, 'Could not record an Event'));

  const setFinalizer = (r: R, present: boolean) =>
    o.client.setFinalizer(r.metadata.namespace, r.metadata.name, o.finalizer, present);

  async function openHost(r: R): Promise<H> {
    const k = resourceKey(r);
    const existing = hosts.get(k);
    if (existing && existing.uid === r.metadata.uid && !existing.host.isStopped) return existing.host;
    await stopHost(k);
    const host = await o.openHost(r, streamIdOf(resourceOf(r)), hostsAbort.signal);
    hosts.set(k, { host, uid: r.metadata.uid });
    host.done().then(
      () => queue?.add(k),
      () => undefined, // stopped (lease lost, shutdown) or a stale writer: the next leader carries on
    );
    return host;
  }

  async function stopHost(k: string): Promise<void> {
    const r = hosts.get(k);
    if (!r) return;
    await r.host.stop();
    hosts.delete(k);
  }

  /** One reconcile: level-triggered, reads the resource fresh; safe to run any number of times. */
  async function reconcile(k: string): Promise<void> {
    const [namespace, name] = k.split('/') as [string, string];
    // the informer's copy when it has one (level-triggered: a stale copy costs one retry, never a wrong write)
    const r = informer?.get(k) ?? (await o.client.get(namespace, name));
    if (!r) return stopHost(k);
    if (r.metadata.deletionTimestamp) return finalize(r);
    const hasFinalizer = r.metadata.finalizers?.includes(o.finalizer) ?? false;
    const phase = r.status?.phase;
    if (phase && terminal.has(phase) && !hasFinalizer && !hosts.has(k)) return;
    if (!hasFinalizer) {
      try {
        if (!(await o.client.setFinalizer(namespace, name, o.finalizer, true, r))) return;
      } catch (err) {
        await o.onFinalizerNotAdded?.(r, err);
        throw err;
      }
    }
    const host = await openHost(r);
    const snap = host.snapshot();
    if (!snap) return begin(r, host);
    if (snap.status === 'done') return settle(r, host);
    if (r.spec.cancel && o.cancelWouldChange(snap)) await host.cancel('spec.cancel was set');
    await o.onRunning?.(r, host, snap);
  }

  /** A new resource: validate and resolve its spec, then record the chart's first event; a bad spec fails at once. */
  async function begin(r: R, host: H): Promise<void> {
    let spec: Spec;
    try {
      spec = o.normalize(r);
    } catch (err) {
      if (!(err instanceof Ms2mError) || err.code !== ErrorCode.INVALID_INPUT) throw err;
      return endBeforeStart(r, 'InvalidSpec', err.message);
    }
    if (r.spec.cancel) return endBeforeStart(r, 'Cancelled', 'Cancelled before it started: nothing was changed');
    const labels = r.metadata.labels;
    await host.request(labels && Object.keys(labels).length > 0 ? { spec, labels: { ...labels } } : { spec });
    log.info({ [o.logField]: resourceKey(r), uid: r.metadata.uid }, `Started ${o.kind} ${resourceKey(r)}`);
  }

  /** Ended before it started (bad spec, cancelled first): nothing to undo, so the finalizer goes at once. */
  async function endBeforeStart(r: R, reason: 'InvalidSpec' | 'Cancelled', message: string): Promise<void> {
    await stopHost(resourceKey(r));
    const at = new Date(o.now()).toISOString();
    const condition = (type: string, status: 'True' | 'False') => ({
      type,
      status,
      reason,
      message,
      lastTransitionTime: at,
    });
    await o.client.patchStatus(r.metadata.namespace, r.metadata.name, {
      phase: 'Failed',
      message,
      observedGeneration: r.metadata.generation,
      completionTime: at,
      conditions: [condition('Ready', 'False'), condition('Failed', 'True'), condition('Progressing', 'False')],
    });
    if (reason === 'InvalidSpec') await recordEvent(r, 'Warning', reason, message);
    else await recordEvent(r, 'Normal', reason, o.cancelledEventMessage ?? message);
    await setFinalizer(r, false);
  }

  /** A finished resource: once its final status is written, the finalizer goes (nothing is left to undo). */
  async function settle(r: R, host: H): Promise<void> {
    await host.idle();
    await setFinalizer(r, false);
    await stopHost(resourceKey(r));
  }

  /** Deleting a running resource: cancel, let compensation finish, then release the finalizer. */
  async function finalize(r: R): Promise<void> {
    if (!r.metadata.finalizers?.includes(o.finalizer)) return;
    const host = await openHost(r);
    const snap = host.snapshot();
    if (snap && snap.status !== 'done') {
      if (o.cancelWouldChange(snap)) await host.cancel(`the ${o.kind} is being deleted`);
      return; // done() requeues the key when compensation has finished
    }
    await host.idle();
    await stopHost(resourceKey(r));
    await setFinalizer(r, false);
  }

  const instrument = o.instrument;
  const run = instrument ? (k: string) => instrument(k, () => reconcile(k)) : reconcile;

  return {
    recordEvent,
    startLeading() {
      synced = false;
      hostsAbort = new AbortController();
      const q = new WorkQueue(run, { concurrency: o.concurrency, logger: log });
      queue = q;
      informer = new ResourceInformer<R>({
        client: o.client,
        logger: log,
        resyncMs: o.resyncMs,
        onChange: (r) => q.add(resourceKey(r)),
        onSynced: () => {
          synced = true;
        },
      });
      informer.start();
      log.info(`Started reconciling ${o.kind}s`);
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
