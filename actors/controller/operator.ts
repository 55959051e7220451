/**
 * The StatefulMigration operator: list+watch of the resources, a level-triggered reconcile per resource (one run
 * in flight per key), one migration host per resource rebuilt from the event log, status/Events/metrics as
 * observers after each commit, a finalizer that cancels and compensates before a resource goes, and leader
 * election: only the lease holder runs hosts, and losing the lease stops all of them at once.
 *
 * `createOperator(deps)` builds it from ports; `main.ts` wires the real ones.
 */
import type { Logger } from 'pino';
import { ErrorCode, InvalidInputError, Ms2mError, toMs2mError } from '../../adapters/errors.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import type { CustomResource } from '../../adapters/kubernetes/custom-resources.ts';
import type { Lease } from '../../adapters/lease/port.ts';
import type { SnapshotCache } from '../../adapters/snapshot-cache/port.ts';
import type { MigrationSnapshot } from '../../machines/migration-chart.ts';
import type { MigrationSpec } from '../../machines/spec.ts';
import { MigrationHost, migrationChart } from '../charts/migration.ts';
import type { StatefulMigrationSpecInput, StatefulMigrationStatusWire } from '../crd/stateful-migration.ts';
import { statefulMigrationResource } from '../crd/stateful-migration.ts';
import type { EffectDeps } from '../effects/deps.ts';
import type { InspectOption } from '../host.ts';
import { normalizeSpec } from '../migration-spec.ts';
import type { OperatorMetrics } from './metrics.ts';
import { crStatusObserver, eventsObserver, type MigrationClient, resourceOf } from './migration-observers.ts';
import { ResourceInformer } from './resource-informer.ts';
import type { LeaderTask } from './volume-resize-controller.ts';
import { WorkQueue } from './work-queue.ts';

export const FINALIZER = 'migration.ms2m.io/finalizer';
export const API_VERSION = `${statefulMigrationResource.group}/${statefulMigrationResource.version}`;
const TERMINAL = new Set(migrationChart.terminalPhases);

type Migration = CustomResource<StatefulMigrationSpecInput, StatefulMigrationStatusWire>;

/** Reads one key of a Secret (for `spec.brokerSecretRef`); null when the Secret or key is missing. */
export type SecretReader = (namespace: string, name: string, key: string) => Promise<string | null>;

export interface OperatorDeps {
  logger: Logger;
  migrations: MigrationClient;
  /** The ports effects use (cluster, kubelet, broker, agents, clock, poll intervals). */
  effects: Omit<EffectDeps, 'logger' | 'brokerConfig'>;
  log: EventLog;
  snapshots?: SnapshotCache;
  readSecret?: SecretReader;
  /** Unset: this process always leads (one replica, tests). */
  lease?: Lease;
  metrics?: OperatorMetrics;
  /** Parallel reconciles (different resources). Default 8. */
  concurrency?: number;
  /** Every resource is reconciled at least this often. Default 5 min. */
  resyncMs?: number;
  /** Lease renew / acquire attempt interval. Default 2 s. */
  leaseRetryMs?: number;
  /** Retries/backoff of the chart's steps. */
  runtime?: { maxAttempts?: number; retryBaseMs?: number };
  /** Told of every live migration actor's inspection events (`--inspect`: the Stately inspector, actors/inspect.ts). */
  inspect?: InspectOption;
  /**
   * The VolumeResize controller (volume-resize-controller.ts), run under the same lease: started when this
   * process leads, stopped with every migration host when it stops leading.
   */
  volumeResizes?: LeaderTask;
}

export interface Operator {
  /** Starts campaigning (or leading, without a lease); the operator's timers keep the process alive until stop(). */
  start(): Promise<void>;
  /** Stops watching and every host (nothing is appended after it resolves), releases the lease. */
  stop(): Promise<void>;
  readonly leading: boolean;
  /** True once this process leads and its first list has been reconciled, or it is a standby. */
  readonly ready: boolean;
  /** Snapshots of the migrations this process runs now (for metrics and tests). */
  running(): Map<string, MigrationSnapshot | null>;
  /** Resolves when the work queue is empty (tests and the benchmark). */
  idle(): Promise<void>;
}

/** The event log key of a resource: its UID too, so a new resource with a reused name never resumes an old log. */
export const migrationIdOf = (m: { namespace: string; name: string; uid: string }): string =>
  `${m.namespace}/${m.name}/${m.uid}`;

interface Running {
  host: MigrationHost;
  uid: string;
  /** The spec change already reported (generation), so the Warning is recorded once. */
  refusedGeneration?: number;
}

/**
 * @example
 * ```ts
 * const operator = createOperator({ logger, migrations, effects: { cluster, kubelet, broker, agents, clock,
 *   pollMs: 500, sampleHeartbeatMs: 5000 }, log, lease });
 * await operator.start();
 * process.on('SIGTERM', () => void operator.stop());
 * ```
 */
export function createOperator(deps: OperatorDeps): Operator {
  const log = deps.logger.child({ component: 'operator' });
  const hosts = new Map<string, Running>();
  let queue: WorkQueue | null = null;
  let informer: ResourceInformer<Migration> | null = null;
  let hostsAbort = new AbortController();
  let leading = false;
  let synced = false;
  let stopped = false;
  let leaseTimer: NodeJS.Timeout | undefined;

  deps.metrics?.setPhaseSource(function* () {
    for (const r of hosts.values()) {
      const s = r.host.snapshot();
      if (s) yield migrationChart.phaseOf(s);
    }
  });

  const ref = resourceOf;

  const recordEvent = (m: Migration, type: 'Normal' | 'Warning', reason: string, message: string) =>
    deps.effects.cluster
      .recordEvent({ apiVersion: API_VERSION, kind: 'StatefulMigration', ...ref(m) }, type, reason, message)
      .catch((err: Error) => log.warn({ migration: key(m), err: err.message }, 'Could not record an Event'));

  async function openHost(m: Migration): Promise<Running> {
    const k = key(m);
    const existing = hosts.get(k);
    if (existing && existing.uid === m.metadata.uid && !existing.host.isStopped) return existing;
    if (existing) {
      await existing.host.stop();
      hosts.delete(k);
    }
    const migrationId = migrationIdOf(ref(m));
    const logKey = { kind: migrationChart.kind, id: migrationId };
    const host = await MigrationHost.open({
      id: migrationId,
      deps: {
        ...deps.effects,
        logger: deps.logger.child({ migration: migrationId }),
        log: deps.log,
        snapshots: deps.snapshots,
        brokerConfig: (ctx) => brokerConfig(ctx.spec, m),
      },
      observers: [
        // located once the host has read the log (a migration of the legacy layout stays where it is)
        crStatusObserver(deps.migrations, ref(m), () => deps.log.locate(logKey)),
        eventsObserver(deps.effects.cluster, ref(m), deps.metrics, API_VERSION, log),
      ],
      signal: hostsAbort.signal,
      ...(deps.inspect ? { inspect: deps.inspect } : {}),
    });
    const running: Running = { host, uid: m.metadata.uid };
    hosts.set(k, running);
    host.done().then(
      () => queue?.add(k),
      () => undefined, // stopped (lease lost, shutdown) or a stale writer: the next leader carries on
    );
    return running;
  }

  async function brokerConfig(spec: MigrationSpec, m: Migration) {
    const mq = spec.messageQueueConfig;
    let brokerUrl = mq.brokerUrl;
    const secretRef = m.spec.brokerSecretRef;
    if (!brokerUrl && secretRef) {
      const url = deps.readSecret ? await deps.readSecret(m.metadata.namespace, secretRef.name, secretRef.key) : null;
      if (!url)
        throw new InvalidInputError(
          `StatefulMigration ${key(m)}`,
          `spec.brokerSecretRef: Secret ${m.metadata.namespace}/${secretRef.name} has no key ${secretRef.key}: create it with the broker URL`,
        );
      brokerUrl = url;
    }
    return { brokerUrl, exchangeName: mq.exchangeName, queueName: mq.queueName, routingKey: mq.routingKey };
  }

  /** One reconcile: level-triggered, reads the resource fresh; safe to run any number of times. */
  async function reconcile(k: string): Promise<void> {
    const started = performance.now();
    const [namespace, name] = k.split('/') as [string, string];
    try {
      // the informer's copy when it has one (level-triggered: a stale copy costs one retry, never a wrong write)
      const m = informer?.get(k) ?? (await deps.migrations.get(namespace, name));
      if (!m) {
        const gone = hosts.get(k);
        if (gone) {
          await gone.host.stop();
          hosts.delete(k);
        }
        return;
      }
      if (m.metadata.deletionTimestamp) return await finalize(m);
      const phase = m.status?.phase;
      if (phase && TERMINAL.has(phase) && !m.metadata.finalizers?.includes(FINALIZER) && !hosts.has(k)) return;
      if (!m.metadata.finalizers?.includes(FINALIZER)) {
        try {
          if (!(await deps.migrations.setFinalizer(namespace, name, FINALIZER, true, m))) return;
        } catch (err) {
          await reportNotStarted(m, err);
          throw err;
        }
      }
      const running = await openHost(m);
      const snap = running.host.snapshot();
      if (!snap) return await begin(m, running);
      if (snap.status === 'done') return await settle(m, running);
      if (m.spec.cancel && cancelWouldChange(snap)) await running.host.cancel('spec.cancel was set');
      await refuseSpecChange(m, running, snap);
      deps.metrics?.reconciles.inc({ result: 'ok' });
    } catch (err) {
      deps.metrics?.reconciles.inc({ result: 'error' });
      throw err;
    } finally {
      deps.metrics?.reconcileLatency.observe((performance.now() - started) / 1000);
    }
  }

  /**
   * Nothing can start without the finalizer (a deletion could not be compensated): say so in status and an Event
   * where the operator may still write them, then let the queue retry.
   */
  async function reportNotStarted(m: Migration, err: unknown): Promise<void> {
    const e = toMs2mError(err);
    if (e.transient) return;
    const message = `Not started: could not add finalizer ${FINALIZER}: ${e.message}`;
    if (m.status?.message === message) return;
    await deps.migrations
      .patchStatus(m.metadata.namespace, m.metadata.name, { message, observedGeneration: m.metadata.generation })
      .catch((patchErr: Error) => log.warn({ migration: key(m), err: patchErr.message }, 'Could not write status'));
    await recordEvent(m, 'Warning', 'FinalizerNotAdded', message);
  }

  /** A new resource: validate and resolve its spec, then record MigrationRequested; a bad spec fails at once. */
  async function begin(m: Migration, running: Running): Promise<void> {
    let spec: MigrationSpec;
    try {
      spec = normalizeSpec(ref(m), m.spec, deps.runtime);
    } catch (err) {
      if (!(err instanceof Ms2mError) || err.code !== ErrorCode.INVALID_INPUT) throw err;
      await running.host.stop();
      hosts.delete(key(m));
      await deps.migrations.patchStatus(
        m.metadata.namespace,
        m.metadata.name,
        endedBeforeStart(m, 'InvalidSpec', err.message),
      );
      await recordEvent(m, 'Warning', 'InvalidSpec', err.message);
      await deps.migrations.setFinalizer(m.metadata.namespace, m.metadata.name, FINALIZER, false);
      return;
    }
    if (m.spec.cancel) {
      // cancelled before it started: nothing to undo
      await running.host.stop();
      hosts.delete(key(m));
      await deps.migrations.patchStatus(
        m.metadata.namespace,
        m.metadata.name,
        endedBeforeStart(m, 'Cancelled', 'Cancelled before it started: nothing was changed'),
      );
      await recordEvent(m, 'Normal', 'Cancelled', 'Cancelled migration before it started');
      await deps.migrations.setFinalizer(m.metadata.namespace, m.metadata.name, FINALIZER, false);
      return;
    }
    const labels = m.metadata.labels;
    await running.host.request(labels && Object.keys(labels).length > 0 ? { spec, labels: { ...labels } } : { spec });
    log.info({ migration: key(m), uid: m.metadata.uid }, `Started StatefulMigration ${key(m)}`);
  }

  /** A finished migration: once its final status is written, the finalizer goes (nothing is left to undo). */
  async function settle(m: Migration, running: Running): Promise<void> {
    await running.host.idle();
    await deps.migrations.setFinalizer(m.metadata.namespace, m.metadata.name, FINALIZER, false);
    await running.host.stop();
    hosts.delete(key(m));
  }

  /** Deleting a resource mid-migration: cancel, let compensation finish, then release the finalizer. */
  async function finalize(m: Migration): Promise<void> {
    if (!m.metadata.finalizers?.includes(FINALIZER)) return;
    const running = await openHost(m);
    const snap = running.host.snapshot();
    if (snap && snap.status !== 'done') {
      if (cancelWouldChange(snap)) await running.host.cancel('the StatefulMigration is being deleted');
      return; // done() requeues the key when compensation (or Finalizing) has finished
    }
    await running.host.idle();
    await running.host.stop();
    hosts.delete(key(m));
    await deps.migrations.setFinalizer(m.metadata.namespace, m.metadata.name, FINALIZER, false);
  }

  /** The spec is fixed once started (the admission policy refuses edits; this catches clusters without it). */
  async function refuseSpecChange(m: Migration, running: Running, snap: MigrationSnapshot): Promise<void> {
    const generation = m.metadata.generation;
    if (generation === undefined || running.refusedGeneration === generation) return;
    let now: MigrationSpec;
    try {
      now = normalizeSpec(ref(m), m.spec, deps.runtime);
    } catch {
      return;
    }
    const logged = snap.context.spec;
    const strip = (s: MigrationSpec) => JSON.stringify({ ...s, maxAttempts: 0, retryBaseMs: 0 });
    if (strip(now) === strip(logged)) return;
    running.refusedGeneration = generation;
    await recordEvent(
      m,
      'Warning',
      'SpecChangeRefused',
      `Ignored a spec change at generation ${generation}: the spec is fixed once the migration has started; create a new StatefulMigration instead`,
    );
  }

  async function becomeLeader(): Promise<void> {
    leading = true;
    synced = false;
    hostsAbort = new AbortController();
    queue = new WorkQueue(reconcile, { concurrency: deps.concurrency ?? 8, logger: log });
    const q = queue;
    informer = new ResourceInformer<Migration>({
      client: deps.migrations,
      logger: log,
      resyncMs: deps.resyncMs ?? 300_000,
      onChange: (m) => q.add(key(m)),
      onSynced: () => {
        synced = true;
      },
    });
    informer.start();
    deps.volumeResizes?.startLeading();
    log.info('Started leading: reconciling StatefulMigrations');
  }

  /** Lease lost or shutdown: every host stops at once (no append after this resolves), then the watch. */
  async function stopLeading(why: string): Promise<void> {
    if (!leading) return;
    leading = false;
    synced = false;
    hostsAbort.abort(new Error(why));
    const stopping = [...hosts.values()].map((r) => r.host.stop());
    if (deps.volumeResizes) stopping.push(deps.volumeResizes.stopLeading(why));
    informer?.stop();
    informer = null;
    const q = queue;
    queue = null;
    await Promise.all(stopping);
    hosts.clear();
    await q?.shutdown();
    log.warn({ why }, 'Stopped leading: every migration host stopped');
  }

  async function campaign(): Promise<void> {
    const lease = deps.lease;
    if (!lease || stopped) return;
    try {
      if (!leading) {
        if (await lease.acquire()) await becomeLeader();
      } else if (!(await lease.renew())) await stopLeading('lost the leader lease');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'Leader election attempt failed');
    }
    if (!stopped) {
      leaseTimer = setTimeout(() => void campaign(), deps.leaseRetryMs ?? 2000);
    }
  }

  return {
    async start() {
      stopped = false;
      if (!deps.lease) return becomeLeader();
      deps.lease.onLost(() => void stopLeading('lost the leader lease'));
      await campaign();
    },
    async stop() {
      stopped = true;
      if (leaseTimer) clearTimeout(leaseTimer);
      await stopLeading('the operator is stopping');
      await deps.lease?.release().catch((err: Error) => log.warn({ err: err.message }, 'Could not release the lease'));
    },
    get leading() {
      return leading;
    },
    get ready() {
      // the StatefulMigration list only: a cluster without the VolumeResize CRD still runs migrations
      return !leading || synced;
    },
    running() {
      return new Map([...hosts].map(([k, r]) => [k, r.host.snapshot()]));
    },
    async idle() {
      await queue?.idle();
      await deps.volumeResizes?.idle();
    },
  };
}

/**
 * A cancel changes a running migration only before Finalizing (the point of no return) and before a failure has
 * started compensation: every resync would otherwise log another CancelRequested the chart then ignores.
 */
const cancelWouldChange = (s: MigrationSnapshot): boolean =>
  s.status !== 'done' && !s.context.failure && s.context.phase !== 'Finalizing';

const key = (m: Migration): string => `${m.metadata.namespace}/${m.metadata.name}`;

/** The status of a migration that ended before it started (bad spec, cancelled first): nothing to undo. */
function endedBeforeStart(
  m: Migration,
  reason: 'InvalidSpec' | 'Cancelled',
  message: string,
): StatefulMigrationStatusWire {
  const at = new Date().toISOString();
  const condition = (type: string, status: 'True' | 'False') => ({
    type,
    status,
    reason,
    message,
    lastTransitionTime: at,
  });
  return {
    phase: 'Failed',
    message,
    observedGeneration: m.metadata.generation,
    completionTime: at,
    conditions: [condition('Ready', 'False'), condition('Failed', 'True'), condition('Progressing', 'False')],
  };
}
