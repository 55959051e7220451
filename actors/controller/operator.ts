/**
 * The StatefulMigration operator: the shared controller loop (resource-controller.ts: list+watch, a level-triggered
 * reconcile per resource, one host per resource rebuilt from the event log, a finalizer that cancels and
 * compensates before a resource goes) bound to the migration chart, with status/Events/metrics as observers after
 * each commit, the broker Secret, refused spec edits, and leader election: only the lease holder runs hosts (of
 * this controller and the VolumeResize one), and losing the lease stops all of them at once.
 *
 * `createOperator(deps)` builds it from ports; `main.ts` wires the real ones.
 */
import type { Logger } from 'pino';
import { InvalidInputError, toMs2mError } from '../../adapters/errors.ts';
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
import { createResourceController, type LeaderTask, resourceKey } from './resource-controller.ts';

export const FINALIZER = 'migration.ms2m.io/finalizer';
export const API_VERSION = `${statefulMigrationResource.group}/${statefulMigrationResource.version}`;

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
  /** The spec change already reported per host (its generation), so the Warning is recorded once. */
  const refusedGeneration = new WeakMap<MigrationHost, number>();
  let leading = false;
  let stopped = false;
  let leaseTimer: NodeJS.Timeout | undefined;

  const migrations = createResourceController({
    kind: 'StatefulMigration',
    apiVersion: API_VERSION,
    finalizer: FINALIZER,
    logField: 'migration',
    logger: log,
    client: deps.migrations,
    cluster: deps.effects.cluster,
    chart: migrationChart,
    metrics: deps.metrics,
    concurrency: deps.concurrency ?? 8,
    resyncMs: deps.resyncMs ?? 300_000,
    now: () => Date.now(),
    openHost: (m: Migration, id, signal) =>
      MigrationHost.open({
        id,
        deps: {
          ...deps.effects,
          logger: deps.logger.child({ migration: id }),
          log: deps.log,
          snapshots: deps.snapshots,
          brokerConfig: (ctx) => brokerConfig(ctx.spec, m),
        },
        observers: [
          // located once the host has read the log (a migration of the legacy layout stays where it is)
          crStatusObserver(deps.migrations, resourceOf(m), () => deps.log.locate({ kind: migrationChart.kind, id })),
          eventsObserver(deps.effects.cluster, resourceOf(m), deps.metrics, API_VERSION, log),
        ],
        signal,
        ...(deps.inspect ? { inspect: deps.inspect } : {}),
      }),
    normalize: (m) => normalizeSpec(resourceOf(m), m.spec, deps.runtime),
    cancelWouldChange,
    cancelledEventMessage: 'Cancelled migration before it started',
    onFinalizerNotAdded: reportNotStarted,
    onRunning: refuseSpecChange,
    // every reconcile run counts, by result: starting, running, finishing and finalizing ones alike
    instrument: async (_key, reconcile) => {
      const started = performance.now();
      try {
        await reconcile();
        deps.metrics?.reconciles.inc({ result: 'ok' });
      } catch (err) {
        deps.metrics?.reconciles.inc({ result: 'error' });
        throw err;
      } finally {
        deps.metrics?.reconcileLatency.observe((performance.now() - started) / 1000);
      }
    },
  });

  async function brokerConfig(spec: MigrationSpec, m: Migration) {
    const mq = spec.messageQueueConfig;
    let brokerUrl = mq.brokerUrl;
    const secretRef = m.spec.brokerSecretRef;
    if (!brokerUrl && secretRef) {
      const url = deps.readSecret ? await deps.readSecret(m.metadata.namespace, secretRef.name, secretRef.key) : null;
      if (!url)
        throw new InvalidInputError(
          `StatefulMigration ${resourceKey(m)}`,
          `spec.brokerSecretRef: Secret ${m.metadata.namespace}/${secretRef.name} has no key ${secretRef.key}: create it with the broker URL`,
        );
      brokerUrl = url;
    }
    return { brokerUrl, exchangeName: mq.exchangeName, queueName: mq.queueName, routingKey: mq.routingKey };
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
      .catch((patchErr: Error) =>
        log.warn({ migration: resourceKey(m), err: patchErr.message }, 'Could not write status'),
      );
    await migrations.recordEvent(m, 'Warning', 'FinalizerNotAdded', message);
  }

  /** The spec is fixed once started (the admission policy refuses edits; this catches clusters without it). */
  async function refuseSpecChange(m: Migration, host: MigrationHost, snap: MigrationSnapshot): Promise<void> {
    const generation = m.metadata.generation;
    if (generation === undefined || refusedGeneration.get(host) === generation) return;
    let now: MigrationSpec;
    try {
      now = normalizeSpec(resourceOf(m), m.spec, deps.runtime);
    } catch {
      return;
    }
    const logged = snap.context.spec;
    const strip = (s: MigrationSpec) => JSON.stringify({ ...s, maxAttempts: 0, retryBaseMs: 0 });
    if (strip(now) === strip(logged)) return;
    refusedGeneration.set(host, generation);
    await migrations.recordEvent(
      m,
      'Warning',
      'SpecChangeRefused',
      `Ignored a spec change at generation ${generation}: the spec is fixed once the migration has started; create a new StatefulMigration instead`,
    );
  }

  function becomeLeader(): void {
    leading = true;
    migrations.startLeading();
    deps.volumeResizes?.startLeading();
    log.info('Started leading');
  }

  /** Lease lost or shutdown: every host of both controllers stops at once (no append after this resolves). */
  async function stopLeading(why: string): Promise<void> {
    if (!leading) return;
    leading = false;
    await Promise.all([migrations.stopLeading(why), deps.volumeResizes?.stopLeading(why)]);
    log.warn({ why }, 'Stopped leading: every migration host stopped');
  }

  async function campaign(): Promise<void> {
    const lease = deps.lease;
    if (!lease || stopped) return;
    try {
      if (!leading) {
        if (await lease.acquire()) becomeLeader();
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
      return !leading || migrations.synced;
    },
    running() {
      return migrations.running();
    },
    async idle() {
      await migrations.idle();
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
