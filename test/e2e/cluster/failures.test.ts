/**
 * Failures injected into real ShadowPod + Direct migrations on the real local cluster (the in-cluster operator
 * Deployment runs them), each while a producer publishes at 10 msg/s: CRIU failing the checkpoint, the source
 * node's agent SIGKILLed while it streams the checkpoint, and the target node's kubelet stopped while the target
 * is restoring. In each failure, the migration ends Failed with a status that says what failed, compensation
 * leaves the source serving on node-a (still consuming after the failure, every produced message processed
 * exactly once by it), and nothing of the migration is left: no target pod, no replay queue.
 *
 * An agent killed once is a transient failure: the transfer is retried when the agent is back and the migration
 * completes; it fails (and compensates) when the agent stays away for every attempt.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1EnvVar } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { statefulMigrationResource as R } from '../../../actors/crd/stateful-migration.ts';
import { openEventLog } from '../../../adapters/event-log/open.ts';
import type { EventLog } from '../../../adapters/event-log/port.ts';
import { clusterUp } from '../../../cluster/local/cluster.ts';
import { RUNC_CRIU_CONFIG } from '../../../cluster/local/criu-config.ts';
import { runningDaemon, stopDaemon } from '../../../cluster/local/daemons.ts';
import { buildClusterImages } from '../../../cluster/local/images.ts';
import type { MigrationProgress } from '../../../eval/migration-run.ts';
import { cleanupScenario, type ScenarioOptions, type ScenarioResult } from '../../../eval/scenario.ts';
import type { EventEnvelope } from '../../../machines/envelope.ts';
import { eventuallyOrDiagnose } from '../../support/cluster-diagnostics.ts';
import {
  checkpointArchives,
  clusterScenario,
  deleteScenarioQueues,
  podHistory,
  removeFiles,
  scaleOperator,
  untilPodsGone,
  within,
} from '../../support/cluster-ops.ts';
import { eventually } from '../../support/eventually.ts';

const cluster = inject('cluster');
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const crs = kc.makeApiClient(CustomObjectsApi);
const namespace = 'e2e-fail';
const nodeA = cluster.nodes.find((n) => n.name === 'node-a') as (typeof cluster.nodes)[number];
const runs: string[] = [];
/** Where a timed-out wait on the node agents looks for why (cluster-diagnostics.ts). */
const system = { kc, dir: cluster.dir, namespace: 'ms2m-system' };
let log: EventLog;

async function migrationEvents(runId: string): Promise<EventEnvelope[]> {
  const cr = (await crs.getNamespacedCustomObject({
    group: R.group,
    version: R.version,
    plural: R.plural,
    namespace,
    name: `mig-${runId}`,
  })) as { metadata: { uid: string } };
  return log.read({ kind: R.kind, id: `${namespace}/mig-${runId}/${cr.metadata.uid}` });
}

beforeAll(async () => {
  log = await openEventLog({ kind: 'nats', servers: cluster.endpoints.nats }, pino({ level: 'silent' }));
  // the in-cluster operator runs these migrations: make sure it is there (another file may have scaled it)
  await scaleOperator(kc, 1, 180_000);
});

afterAll(async () => {
  await log?.close();
  for (const runId of runs) {
    await cleanupScenario(kc, namespace, runId);
    await untilPodsGone(kc, namespace, `app=consumer-${runId}`);
    await deleteScenarioQueues(cluster.endpoints.rabbitManagement, runId);
    removeFiles(checkpointArchives(nodeA.checkpoints, namespace, `consumer-${runId}`));
  }
});

interface Failure {
  result: ScenarioResult;
  /** Every pod instance of the run's consumer (by UID) and where it ran. */
  pods: { name: string; node?: string }[];
}

/** A scenario whose migration must fail (unless `expectPhase` says otherwise); `onProgress` may inject the failure at a phase. */
async function scenario(runId: string, o: Partial<ScenarioOptions>): Promise<Failure> {
  runs.push(runId);
  const history = await podHistory(kc, namespace, `app=consumer-${runId}`);
  try {
    const result = await clusterScenario({ kc, cluster, namespace }, runId, {
      // the producer must outlast the failure: the source is seen consuming after it
      messages: 450,
      expectPhase: 'Failed',
      migrationTimeoutMs: 180_000,
      ...o,
      spec: { migrationStrategy: 'ShadowPod', transferMode: 'Direct', ...o.spec },
    });
    return { result, pods: [...history.seen.values()].map((p) => ({ name: p.name, node: p.node })) };
  } finally {
    history.stop();
  }
}

async function replayQueueExists(runId: string): Promise<boolean> {
  const res = await fetch(
    `${cluster.endpoints.rabbitManagement}/api/queues/%2F/${encodeURIComponent(`q-${runId}.ms2m-replay`)}`,
    {
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
      signal: AbortSignal.timeout(5000),
    },
  );
  if (res.status === 404) return false;
  if (res.ok) return true;
  throw new Error(`RabbitMQ management answered ${res.status}`);
}

/**
 * Failed and compensated: the condition names the failure, the source still serves on node-a with nothing lost and
 * kept consuming after the failure, no target pod and no replay queue are left.
 */
async function expectCompensated(
  runId: string,
  f: Failure,
  reason: string,
  message: RegExp,
  /** What the Compensated condition must say was undone besides the replay queue. */
  undone: string[] = [],
): Promise<void> {
  const r = f.result;
  const status = r.migration.status as {
    phase?: string;
    message?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
  console.log(`[${runId}] status ${JSON.stringify({ message: status.message, conditions: status.conditions })}`);
  expect(status.phase).toBe('Failed');
  const failed = status.conditions?.find((c) => c.type === 'Failed');
  expect(failed).toMatchObject({ status: 'True', reason });
  expect(failed?.message).toMatch(message);
  const compensated = status.conditions?.find((c) => c.type === 'Compensated');
  expect(compensated).toMatchObject({ status: 'True', reason: 'Compensated' });
  for (const u of [`Deleted replay queue q-${runId}.ms2m-replay`, ...undone]) expect(compensated?.message).toContain(u);
  // the source: the same pod, Running on node-a, consuming after the failure, and nothing lost
  const source = await core.readNamespacedPod({ name: r.sourcePod, namespace });
  expect(source.status?.phase).toBe('Running');
  expect(source.spec?.nodeName).toBe('node-a');
  expect(source.metadata?.deletionTimestamp).toBeUndefined();
  expect(r.finalPod).toBe(r.sourcePod);
  expect(r.after.pod).toBe(r.sourcePod);
  expect(r.after.processed, 'the source kept consuming after the failure').toBeGreaterThan(r.atEnd.processed);
  expect(r.atEnd.mode).toBe('primary');
  expect(r.accounting).toMatchObject({ lost: 0, duplicated: 0, exactlyOnce: true, continued: true });
  expect(r.accounting.produced).toBe(450);
  // nothing of the migration is left
  await eventually(
    `only the source pod of ${runId} left`,
    async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=consumer-${runId}` });
      const names = pods.items.map((p) => p.metadata?.name);
      return names.length === 1 && names[0] === r.sourcePod ? true : undefined;
    },
    120_000,
  );
  expect(await replayQueueExists(runId)).toBe(false);
}

describe('failures during a migration are compensated: the source keeps serving, nothing is lost', () => {
  it('CRIU fails the checkpoint on node-a: Failed (CheckpointFailed), no target, the source serves on', async () => {
    const runId = 'f-criu';
    const original = readFileSync(RUNC_CRIU_CONFIG, 'utf8');
    let f: Failure;
    try {
      // runc hands CRIU this file for every checkpoint: an option CRIU does not know fails the dump; pods are
      // created without CRIU, so the workload starts normally
      writeFileSync(RUNC_CRIU_CONFIG, `${original}ms2m-e2e-invalid-option\n`);
      f = await scenario(runId, {});
    } finally {
      writeFileSync(RUNC_CRIU_CONFIG, original);
    }
    await expectCompensated(runId, f, 'CheckpointFailed', /Checkpoint of .*consumer-f-criu.* failed/);
    // the migration never got to a target
    expect(f.pods.map((p) => `${p.name}@${p.node}`)).toEqual([`${f.result.sourcePod}@node-a`]);
  });

  describe('the agent of the source node SIGKILLed while it streams the checkpoint', () => {
    // 4 MiB/s and 64 MiB of consumer ballast: a transfer takes ~20 s, long enough to kill the agent in it
    beforeAll(() => setAgentEnv('MS2M_AGENT_BYTES_PER_SECOND', String(4 * 1024 * 1024)));
    afterAll(() => setAgentEnv('MS2M_AGENT_BYTES_PER_SECOND', null));
    /** Kills the agent of node-a once the transfer has moved bytes; with `every`, each new agent process too. */
    const agentKiller = (runId: string, every: boolean) => {
      const killed: number[] = [];
      let timer: NodeJS.Timeout | undefined;
      let ended = false;
      const killNow = () => {
        const pid = runningAgentPid(nodeA);
        if (pid === null || killed.includes(pid)) return;
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
        console.log(`[${runId}] SIGKILLed the agent of node-a (pid ${pid})`);
      };
      return {
        killed,
        onProgress(p: MigrationProgress) {
          if (p.phase === 'Failed' || p.phase === 'Completed') {
            ended = true;
            clearInterval(timer);
          }
          if (ended || killed.length > 0 || p.phase !== 'Transferring' || !(p.bytesTransferred ?? 0)) return;
          console.log(`[${runId}] transfer at ${p.bytesTransferred} of ${p.bytesTotal} bytes`);
          killNow();
          // the agent's restarts too, until the migration has ended: every retry of the transfer fails
          if (every) timer = setInterval(killNow, 100);
        },
        stop: () => clearInterval(timer),
      };
    };

    // zero loss here also depends on the bug backlog-loss.test.ts shows: a message published before the replay queue
    // and still unprocessed in the source at the checkpoint is lost (seen here once: 1 of 450)
    it('killed once: the transfer fails as UNAVAILABLE (transient), is retried once the agent is back, and the migration completes with zero loss', async () => {
      const runId = 'f-agent-once';
      const killer = agentKiller(runId, false);
      let f: Failure;
      try {
        f = await scenario(runId, {
          ballastMib: 64,
          expectPhase: 'Completed',
          onProgress: killer.onProgress,
        });
      } finally {
        killer.stop();
      }
      expect(killer.killed, 'the agent was killed while Transferring').toHaveLength(1);
      const r = f.result;
      expect(r.accounting).toMatchObject({ lost: 0, duplicated: 0, exactlyOnce: true, continued: true });
      const events = await migrationEvents(runId);
      const failures = events.filter((e) => e.type === 'StepFailed').map((e) => e.data);
      expect(failures.length).toBeGreaterThanOrEqual(1);
      for (const d of failures)
        expect(d).toMatchObject({ step: 'transferCheckpoint', code: 'UNAVAILABLE', transient: true });
      expect(String((failures[0] as { message: string }).message)).toMatch(/^Agent on node node-a unavailable: /);
      expect(events.filter((e) => e.type === 'TransferCompleted')).toHaveLength(1);
      expect(f.pods.map((p) => `${p.name}@${p.node}`).sort()).toEqual(
        [`${r.sourcePod}@node-a`, `${r.finalPod}@node-b`].sort(),
      );
    });

    it('killed on every attempt: Failed (TransferFailed) naming the agent of node-a, no target, the source serves on', async () => {
      const runId = 'f-agent';
      const killer = agentKiller(runId, true);
      let f: Failure;
      try {
        f = await scenario(runId, { ballastMib: 64, onProgress: killer.onProgress });
      } finally {
        killer.stop();
      }
      expect(killer.killed.length, 'the agent was killed while Transferring').toBeGreaterThanOrEqual(1);
      await expectCompensated(runId, f, 'TransferFailed', /Agent on node node-a unavailable/);
      expect(f.pods.map((p) => `${p.name}@${p.node}`)).toEqual([`${f.result.sourcePod}@node-a`]);
      const failures = (await migrationEvents(runId)).filter((e) => e.type === 'StepFailed');
      // every attempt the chart allows was made
      expect(failures.length).toBeGreaterThanOrEqual(2);
    });
  });

  it("node-b's kubelet stopped while the target restores: Failed by the Restoring deadline, the target pod removed, the source serves on", async () => {
    const runId = 'f-kubelet';
    const kubelet = 'kubelet-node-b';
    let stopping: Promise<boolean> | null = null;
    let restarting: Promise<void> | null = null;
    const restart = () => {
      restarting ??= (async () => {
        await stopping;
        await clusterUp({ buildImages: buildClusterImages, dir: cluster.dir });
      })();
      return restarting;
    };
    // the migration needs both agents: one a failure before left unready would fail it before Restoring
    await untilAgentsRolledOut('before the kubelet test', 0);
    let f: Failure;
    try {
      f = await scenario(runId, {
        spec: { phaseDeadlines: { Restoring: 20 } },
        onProgress: (p) => {
          if (p.phase === 'Restoring' && !stopping) {
            stopping = stopDaemon(cluster.dir, kubelet);
            void stopping.then((was) => console.log(`[${runId}] stopped ${kubelet} (was running: ${was})`));
          }
          // the migration has ended: the node comes back while the source finishes the run
          if (p.phase === 'Failed' || p.phase === 'Completed') void restart();
        },
      });
    } finally {
      await within(`${kubelet} restarted and node-b Ready`, restart(), 180_000);
    }
    expect(await stopping, `${kubelet} was running when the target was restoring`).toBe(true);
    expect(await runningDaemon(cluster.dir, kubelet)).not.toBeNull();
    await eventually(
      'node-b Ready',
      async () =>
        (await core.readNode({ name: 'node-b' })).status?.conditions?.some(
          (c) => c.type === 'Ready' && c.status === 'True',
        ) || undefined,
      120_000,
    );
    await expectCompensated(runId, f, 'DeadlineExceeded', /Phase Restoring exceeded its deadline of 20s/, [
      `Deleted Pod consumer-${runId}-shadow`,
    ]);
    // a target was created on node-b, and deleted by the compensation once its kubelet was back
    expect(f.pods.map((p) => `${p.name}@${p.node}`).sort()).toEqual(
      [`${f.result.sourcePod}@node-a`, `${f.result.sourcePod}-shadow@node-b`].sort(),
    );
  });
});

/** The PID (host PID namespace) of the running agent container on `node` (null: none runs), from its containerd. */
function runningAgentPid(node: (typeof cluster.nodes)[number]): number | null {
  const ctr = (...args: string[]) =>
    execFileSync(cluster.ctr, ['--address', node.containerdSocket, '-n', 'k8s.io', ...args], {
      encoding: 'utf8',
      timeout: 10_000,
    });
  // one filter, its conditions joined by a comma: ANDed (separate filters would be ORed)
  const ids = new Set(
    ctr(
      'containers',
      'ls',
      '-q',
      'labels."io.kubernetes.container.name"==agent,labels."io.kubernetes.pod.namespace"==ms2m-system',
    )
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );
  const running = ctr('tasks', 'ls')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter(([id, , state]) => id && ids.has(id) && state === 'RUNNING')
    .map(([, pid]) => Number(pid));
  if (running.length === 0) return null;
  if (running.length > 1) throw new Error(`${running.length} agent tasks run on ${node.name}: ${running.join(', ')}`);
  const pid = running[0] as number;
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  if (!cmdline.includes('/app/agent.mjs')) throw new Error(`pid ${pid} on ${node.name} is not the agent: ${cmdline}`);
  return pid;
}

/** Sets (or with null removes) an env var of the agent DaemonSet's container, and waits for the rollout. */
async function setAgentEnv(name: string, value: string | null): Promise<void> {
  const ds = await apps.readNamespacedDaemonSet({ name: 'ms2m-agent', namespace: 'ms2m-system' });
  const container = ds.spec?.template.spec?.containers[0];
  if (!container) throw new Error('DaemonSet ms2m-system/ms2m-agent has no container');
  const env: V1EnvVar[] = (container.env ?? []).filter((e) => e.name !== name);
  if (value !== null) env.push({ name, value });
  container.env = env;
  const updated = await apps.replaceNamespacedDaemonSet({ name: 'ms2m-agent', namespace: 'ms2m-system', body: ds });
  await untilAgentsRolledOut(
    `${name}=${value}`,
    updated.metadata?.generation ?? 0,
    (e) => e.some((v) => v.name === name) === (value !== null),
  );
}

/**
 * Waits until the agent DaemonSet has rolled out `generation` (its status) and only its new pods run, both Ready,
 * each with an env that `envOk` accepts; on a timeout the error carries the cluster's diagnostics.
 */
async function untilAgentsRolledOut(
  what: string,
  generation: number,
  envOk: (env: V1EnvVar[]) => boolean = () => true,
): Promise<void> {
  await eventuallyOrDiagnose(
    system,
    `DaemonSet ms2m-agent rolled out (${what})`,
    async () => {
      const now = await apps.readNamespacedDaemonSet({ name: 'ms2m-agent', namespace: 'ms2m-system' });
      const s = now.status;
      const desired = s?.desiredNumberScheduled ?? -1;
      return (s?.observedGeneration ?? 0) >= generation &&
        s?.updatedNumberScheduled === desired &&
        s?.numberReady === desired &&
        (s?.numberUnavailable ?? 0) === 0
        ? true
        : undefined;
    },
    180_000,
  );
  // the rollout is done when the old pods are gone too
  await eventuallyOrDiagnose(
    system,
    `only the new agent pods (${what})`,
    async () => {
      const pods = await core.listNamespacedPod({
        namespace: 'ms2m-system',
        labelSelector: 'app.kubernetes.io/name=ms2m-agent',
      });
      const ok =
        pods.items.length === 2 &&
        pods.items.every(
          (p) =>
            !p.metadata?.deletionTimestamp &&
            p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
            envOk(p.spec?.containers[0]?.env ?? []),
        );
      return ok ? true : undefined;
    },
    180_000,
  );
}
