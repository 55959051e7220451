/**
 * Runs the evaluation's runs on a real cluster (the local one or any a kubeconfig reaches): each run is the
 * scenario of eval/scenario.ts (producer + consumer deployed on the source node, steady state, a labelled
 * StatefulMigration to the target node followed to a terminal phase, the 10 ms downtime probe, the accounting),
 * and everything it leaves (the migration, the workload, its queues) is removed again, by name and by the
 * `ms2m.io/eval-run` label, so a killed attempt never leaks into the next one.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { statefulMigrationResource as R } from '../../actors/crd/stateful-migration.ts';
import { ErrorCode, InvalidInputError, Ms2mError } from '../../adapters/errors.ts';
import { cleanupScenario, runScenario } from '../scenario.ts';
import { deleteRunQueues, type ManagementApi, runIdsWithBrokerLeftovers } from './broker-leftovers.ts';
import type { RunMeasurement } from './evaluation-chart.ts';
import type { PlannedRun } from './matrix.ts';
import type { RunExecutor, RunLabels } from './runner.ts';

/** The replay policy of every run: the operator's computed cutoff, a fixed one, or Drain. */
export type CutoffPolicy = { kind: 'computed' } | { kind: 'seconds'; seconds: number } | { kind: 'drain' };

export interface ClusterExecutorOptions {
  kc: KubeConfig;
  namespace: string;
  /** The `ms2m/workloads` image as the nodes pull it. */
  image: string;
  /** Broker URL as pods and the operator reach it. */
  amqpUrl: string;
  management: ManagementApi;
  /** Repository for Registry transfers (`<registry>/<path>`, as the nodes reach it). */
  checkpointRepository?: string;
  evalName: string;
  /** Short tag of the eval in object names (see matrix.ts `runIdOf`). */
  evalTag: string;
  /** Seconds the producer publishes in all (messages = rate × seconds). */
  seconds: number;
  /** Seconds of messages processed before the migration starts. */
  warmupSeconds: number;
  processingDelayMs: number;
  cutoff: CutoffPolicy;
  migrationTimeoutMs: number;
  /** How long removing a run may take (the operator compensates a migration deleted mid-way). */
  cleanupTimeoutMs?: number;
}

export const EVAL_RUN_LABEL = 'ms2m.io/eval-run';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A run's leftovers could not be removed in time; the message names them and what to check. */
export class CleanupTimeoutError extends Ms2mError {
  constructor(what: string, timeoutMs: number, fix: string) {
    super(ErrorCode.UNAVAILABLE, `${what} still there after ${Math.round(timeoutMs / 1000)} s: ${fix}`, {
      transient: true,
    });
  }
}

async function until(what: string, timeoutMs: number, fix: string, gone: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await gone())) {
    if (Date.now() > deadline) throw new CleanupTimeoutError(what, timeoutMs, fix);
    await sleep(500);
  }
}

const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;

/**
 * The executor of `ms2m eval` on a cluster.
 *
 * @example
 * ```ts
 * const executor = clusterExecutor({ kc, namespace: 'ms2m-eval', image, amqpUrl, management: { url },
 *   evalName: 'e1', evalTag: 'e3f9a1c', seconds: 30, warmupSeconds: 3, processingDelayMs: 50,
 *   cutoff: { kind: 'computed' }, migrationTimeoutMs: 300_000 });
 * ```
 */
export function clusterExecutor(o: ClusterExecutorOptions): RunExecutor {
  const core = o.kc.makeApiClient(CoreV1Api);
  const custom = o.kc.makeApiClient(CustomObjectsApi);
  const ns = o.namespace;
  const cleanupTimeoutMs = o.cleanupTimeoutMs ?? 180_000;
  const crApi = { group: R.group, version: R.version, plural: R.plural, namespace: ns };
  const runIdPattern = new RegExp(`^(?:mig|consumer|producer)-(${o.evalTag}-[a-z]{2}-[0-9p]+-[0-9]+)(?:-.*)?$`, 'u');

  async function cleanup(runId: string): Promise<void> {
    const mig = `mig-${runId}`;
    // the migration first: deleting one mid-way makes the operator compensate (and it may touch the workload)
    await custom.deleteNamespacedCustomObject({ ...crApi, name: mig }).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    await until(
      `StatefulMigration ${ns}/${mig}`,
      cleanupTimeoutMs,
      'is the operator running (kubectl -n ms2m-system get pods)? It removes its finalizer once compensated',
      async () =>
        custom.getNamespacedCustomObject({ ...crApi, name: mig }).then(
          () => false,
          (err) => {
            if (isNotFound(err)) return true;
            throw err;
          },
        ),
    );
    await cleanupScenario(o.kc, ns, runId);
    const selector = `app in (consumer-${runId},producer-${runId})`;
    await until(
      `the pods of run ${runId} in ${ns}`,
      cleanupTimeoutMs,
      `kubectl -n ${ns} get pods -l '${selector}'`,
      async () => {
        const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: selector });
        // a Deployment's ReplicaSet may recreate one while the garbage collector removes it: delete again
        if (pods.items.length) await cleanupScenario(o.kc, ns, runId);
        return pods.items.length === 0;
      },
    );
    // with no consumer left to declare them again, the run's queues go
    await deleteRunQueues(o.management, runId);
  }

  return {
    async sweep() {
      const selector = `${EVAL_RUN_LABEL}=${o.evalName}`;
      const runIds = new Set<string>();
      const crs = (await custom.listNamespacedCustomObject({ ...crApi, labelSelector: selector }).catch((err) => {
        if (isNotFound(err)) return { items: [] };
        throw err;
      })) as { items: { metadata?: { name?: string } }[] };
      const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: selector }).catch((err) => {
        if (isNotFound(err)) return { items: [] };
        throw err;
      });
      for (const name of [
        ...crs.items.map((c) => c.metadata?.name ?? ''),
        ...pods.items.map((p) => p.metadata?.labels?.app ?? ''),
      ]) {
        const id = runIdPattern.exec(name)?.[1];
        if (id) runIds.add(id);
      }
      for (const id of await runIdsWithBrokerLeftovers(o.management, o.evalTag)) runIds.add(id);
      for (const id of runIds) await cleanup(id);
      return [...runIds].sort();
    },

    cleanup,

    async execute(run: PlannedRun, runId: string, labels: RunLabels, onPhase: (phase: string) => void) {
      const c = run.configuration;
      if (c.transfer === 'Registry' && !o.checkpointRepository) {
        throw new InvalidInputError(
          `Configuration ${c.name}`,
          'transfers through a registry: pass --checkpoint-repository <registry>/<path> as the nodes reach it',
        );
      }
      const messages = Math.max(1, Math.round(run.rate * o.seconds));
      const r = await runScenario({
        kc: o.kc,
        image: o.image,
        amqpUrl: o.amqpUrl,
        namespace: ns,
        runId,
        workload: c.workload,
        sourceNode: run.sourceNode,
        targetNode: run.targetNode,
        spec: {
          migrationStrategy: c.strategy,
          transferMode: c.transfer,
          ...(c.transfer === 'Registry' ? { checkpointImageRepository: o.checkpointRepository } : {}),
          ...(o.cutoff.kind === 'drain' ? { replayMode: 'Drain' as const } : {}),
          ...(o.cutoff.kind === 'seconds'
            ? { replayMode: 'Cutoff' as const, replayCutoffSeconds: o.cutoff.seconds }
            : {}),
        },
        rate: run.rate,
        messages,
        warmupMessages: Math.max(1, Math.min(messages - 1, Math.round(run.rate * o.warmupSeconds))),
        delayMs: o.processingDelayMs,
        migrationTimeoutMs: o.migrationTimeoutMs,
        expectPhase: 'any',
        labels: { ...labels },
        onProgress: (p) => onPhase(p.phase),
      });
      const progress = (r.migration.status.progress ?? {}) as { replayed?: number };
      const measurement: RunMeasurement = {
        migration: { kind: 'StatefulMigration', id: `${ns}/${r.migration.name}/${r.migration.uid}` },
        configuration: c.name,
        msgRate: run.rate,
        repetition: run.repetition,
        downtimeMs: r.downtime.maxDowntimeMs,
        downProbes: r.downtime.failedProbes,
        produced: r.accounting.produced,
        processed: r.accounting.processed,
        replayed: progress.replayed ?? 0,
        lost: r.accounting.lost,
        duplicated: r.accounting.duplicated,
        targetNode: run.targetNode,
        sourceNode: run.sourceNode,
        outcome: r.migration.phase,
        ...(r.migration.phase === 'Failed' ? { reason: r.migration.status.message ?? 'no message' } : {}),
        probes: r.downtime.probes,
        processingDelayMs: o.processingDelayMs,
      };
      return measurement;
    },
  };
}
