/**
 * Migrations driven by the operator on a real control plane with the other ports real too: RabbitMQ (a producer
 * and migration-aware consumers, every message counted), the node agents (Direct) and a docker-registry
 * (Registry), and the kubelet checkpoint call through the API server's node proxy to a stand-in kubelet in a
 * network namespace (it answers with an archive the source agent then really sends or pushes). The test plays the
 * nodes' pod lifecycle (NodeSimulator); the ReplicaSet and StatefulSet controllers are the real ones.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createOperator, type Operator } from '../../actors/controller/operator.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { kubeletFromKubeconfig } from '../../adapters/kubelet/kubeconfig.ts';
import { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import { KubeCluster } from '../../adapters/kubernetes/kubernetes.ts';
import { ociRegistry } from '../../adapters/oci/registry.ts';
import { createRabbitBroker, type RabbitBroker } from '../../adapters/rabbitmq/rabbitmq.ts';
import { type AgentPair, startAgentPair, writeRandomTar } from '../harness/agent.ts';
import { type NetnsKubelet, startNetnsKubelet } from '../harness/netns-kubelet.ts';
import { type RabbitServer, startRabbit } from '../harness/rabbitmq.ts';
import { type RegistryHarness, startRegistry } from '../harness/registry.ts';
import { eventually } from '../support/eventually.ts';
import { MigratingConsumer, NumberedProducer } from '../support/mq-workload.ts';
import { NodeSimulator } from '../support/node-simulator.ts';
import { installOperatorPrerequisites } from '../support/operator-env.ts';

const cp = inject('controlPlane');
const GROUP = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };
const namespace = `real-${Date.now().toString(36)}`;
const seed = Number(process.env.MS2M_TEST_SEED ?? Date.now() % 2 ** 31);
console.log(`[operator-real-servers] MS2M_TEST_SEED=${seed}`);

let admin: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let crs: CustomObjectsApi;
let nodes: NodeSimulator | undefined;
let kubelet: NetnsKubelet | undefined;
let rabbit: RabbitServer | undefined;
let agents: AgentPair | undefined;
let registry: RegistryHarness | undefined;
let broker: RabbitBroker | undefined;
let operator: Operator | undefined;
let dir: string;

beforeAll(async () => {
  let operatorKc: KubeConfig;
  ({ admin, operator: operatorKc } = await installOperatorPrerequisites(cp));
  core = admin.makeApiClient(CoreV1Api);
  apps = admin.makeApiClient(AppsV1Api);
  crs = admin.makeApiClient(CustomObjectsApi);
  [rabbit, agents, registry, kubelet] = await Promise.all([
    startRabbit({ statsIntervalMs: 1000 }),
    startAgentPair(),
    startRegistry(),
    // its waits (nextRequest) span a whole migration on a loaded machine
    startNetnsKubelet({ caCertPath: cp.caCertPath, caKeyPath: cp.caKeyPath, seed, answers: {}, timeoutMs: 120_000 }),
  ]);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await eventually('ServiceAccount default', () => core.readNamespacedServiceAccount({ name: 'default', namespace }));
  // node-a's kubelet is the stand-in in the network namespace: the checkpoint goes through the node proxy to it
  nodes = new NodeSimulator({
    kubeConfig: admin,
    nodes: ['node-a', 'node-b'],
    kubelets: { 'node-a': { ip: kubelet.ip, port: kubelet.port } },
  });
  await nodes.start();
  dir = mkdtempSync(join(tmpdir(), 'ms2m-real-'));
  const logger = pino({ level: process.env.MS2M_TEST_LOG ?? 'warn' });
  const clock = systemClock();
  broker = createRabbitBroker({ logger, managementUrl: rabbit.managementUrl, statsIntervalMs: 1000 });
  operator = createOperator({
    logger,
    migrations: new CustomResourceClient(operatorKc, { ...GROUP, kind: 'StatefulMigration' }, namespace),
    effects: {
      cluster: new KubeCluster({ kubeConfig: operatorKc, logger }),
      kubelet: await kubeletFromKubeconfig({ kubeConfig: operatorKc }),
      broker,
      agents: agents.client,
      clock,
      pollMs: 100,
      sampleHeartbeatMs: 500,
    },
    log: await openFileLog({ dir: join(dir, 'log'), logger }),
    runtime: { maxAttempts: 5, retryBaseMs: 200 },
  });
  await operator.start();
}, 240_000);

afterAll(async () => {
  await operator?.stop();
  await broker?.close();
  await nodes?.stop();
  await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  await Promise.all([kubelet?.stop(), rabbit?.stop(), agents?.stop(), registry?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const container = { name: 'consumer', image: 'registry.invalid/ms2m/consumer:1', env: [{ name: 'QUEUE', value: 'q' }] };

interface Workload {
  /** The source pod's name once it runs. */
  source: string;
}

async function plainPod(name: string): Promise<Workload> {
  await core.createNamespacedPod({
    namespace,
    body: { metadata: { name, labels: { app: name } }, spec: { nodeName: 'node-a', containers: [container] } },
  });
  return { source: name };
}

async function deployment(name: string): Promise<Workload> {
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          // the source must start on node-a, where the stand-in kubelet is
          spec: { nodeSelector: { 'kubernetes.io/hostname': 'node-a' }, containers: [container] },
        },
      },
    },
  });
  const pod = await eventually(`a pod of Deployment ${name}`, async () => {
    const list = await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` });
    return list.items[0]?.metadata?.name;
  });
  return { source: pod };
}

async function statefulSet(name: string): Promise<Workload> {
  await apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name },
      spec: {
        replicas: 1,
        serviceName: name,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { nodeSelector: { 'kubernetes.io/hostname': 'node-a' }, containers: [container] },
        },
      },
    },
  });
  return { source: `${name}-0` };
}

/**
 * Runs one migration of `workload` with a producer at 50 msg/s and consumers that obey the control protocol;
 * returns the final status and the messages the migrated state is missing (must be none).
 */
async function migrate(
  name: string,
  make: (n: string) => Promise<Workload>,
  spec: { transferMode: 'Direct' | 'Registry'; targetPod: (source: string) => string; sequential?: boolean },
) {
  const w = await make(`app-${name}`);
  await eventually(`Pod ${w.source} Running on node-a`, async () => {
    const p = await core.readNamespacedPod({ namespace, name: w.source });
    return p.status?.phase === 'Running' && p.spec?.nodeName === 'node-a' ? true : undefined;
  });
  const archive = join(agents!.a.checkpointsDir, `checkpoint-${w.source}_${namespace}-consumer-${name}.tar`);
  mkdirSync(agents!.a.checkpointsDir, { recursive: true });
  await writeRandomTar(archive, 4 * 1024 * 1024, `${seed}:${name}`);
  await kubelet!.setAnswer(`${namespace}/${w.source}/consumer`, {
    status: 200,
    body: JSON.stringify({ items: [archive] }),
  });

  const cfg = { brokerUrl: rabbit!.url, exchangeName: `x-${name}`, queueName: `q-${name}` };
  await broker!.ensureTopology(cfg, `setup:${name}`);
  const source = new MigratingConsumer(rabbit!.url, w.source, cfg.queueName, 'primary');
  const target = new MigratingConsumer(rabbit!.url, spec.targetPod(w.source), cfg.queueName, 'waiting');
  await source.start();
  const sourceUid = (await core.readNamespacedPod({ namespace, name: w.source })).metadata?.uid;
  // ShadowPod: the restored consumer runs beside the source. Sequential: the source process ends when the
  // StatefulSet scale-down deletes its pod, and the restored one (same name, same control queue) starts after.
  const targetStarted = spec.sequential
    ? eventually(
        'the source pod gone',
        async () => {
          const pods = await core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${w.source}` });
          return pods.items.some((p) => p.metadata?.uid === sourceUid) ? undefined : true;
        },
        120_000,
      ).then(async () => {
        await source.stop();
        await target.start();
      })
    : target.start();
  if (!spec.sequential) await targetStarted;
  const producer = new NumberedProducer(rabbit!.url, cfg.exchangeName, 50);
  producer.start();
  try {
    await eventually('the source consuming', async () => (source.seen.size > 20 ? true : undefined));
    // the checkpoint is the source's state when the kubelet is asked for it (taken as the stand-in reports the
    // request: a few ms late, so a message the source took in those ms counts as checkpointed)
    let checkpointState = new Set<number>();
    void kubelet!
      .nextRequest((r) => r.path === `/checkpoint/${namespace}/${w.source}/consumer`)
      .then(
        () => {
          checkpointState = new Set(source.seen);
        },
        () => undefined, // no request within the harness's wait: the migration's status says why
      );
    await crs.createNamespacedCustomObject({
      ...GROUP,
      namespace,
      body: {
        apiVersion: 'migration.ms2m.io/v1alpha1',
        kind: 'StatefulMigration',
        metadata: { name },
        spec: {
          sourcePod: w.source,
          targetNode: 'node-b',
          transferMode: spec.transferMode,
          replayCutoffSeconds: 3,
          ...(spec.transferMode === 'Registry' ? { checkpointImageRepository: `${registry!.host}/ms2m-${name}` } : {}),
          messageQueueConfig: { queueName: cfg.queueName, exchangeName: cfg.exchangeName, brokerUrl: rabbit!.url },
        },
      },
    });
    const status = await eventually(
      `${name} Completed or Failed`,
      async () => {
        const m = (await crs.getNamespacedCustomObject({ ...GROUP, namespace, name })) as {
          status?: { phase?: string; message?: string; targetPod?: string; phaseTimings?: Record<string, string> };
        };
        return m.status?.phase === 'Completed' || m.status?.phase === 'Failed' ? m.status : undefined;
      },
      120_000,
    );
    await targetStarted;
    // the migrated consumer serves the primary queue now: let the producer go on a little, then count
    await new Promise((r) => setTimeout(r, 1000));
    await producer.stop();
    const state = () => new Set([...checkpointState, ...target.seen]);
    await eventually(
      'the migrated state to hold every message',
      async () => (state().size >= producer.sent ? true : undefined),
      90_000,
    ).catch(() => undefined);
    const missing = Array.from({ length: producer.sent }, (_, i) => i + 1).filter((n) => !state().has(n));
    return { status, missing, target, source, produced: producer.sent };
  } finally {
    await producer.stop();
    await Promise.all([source.stop(), target.stop()]);
  }
}

describe('operator with real RabbitMQ, agents, registry and the kubelet through the node proxy', () => {
  it('ShadowPod + Direct of a plain pod: 0 messages lost, the archive moved agent to agent', {
    timeout: 300_000,
  }, async () => {
    const r = await migrate('sp-direct', plainPod, { transferMode: 'Direct', targetPod: (s) => `${s}-shadow` });
    expect(r.status.phase, r.status.message).toBe('Completed');
    expect(r.missing).toEqual([]);
    expect(r.target.control).toEqual(['START_REPLAY', 'END_REPLAY']);
    expect(r.source.control).toEqual(['STOP_CONSUMING']);
    const onB = await agents!.client.list('node-b');
    expect(onB.some((e) => e.container === 'consumer')).toBe(true);
    const target = await core.readNamespacedPod({ namespace, name: 'app-sp-direct-shadow' });
    expect(target.spec?.containers[0]?.image).toMatch(/^localhost\/checkpoint\/consumer:/);
    expect(target.spec?.containers[0]?.imagePullPolicy).toBe('Never');
  });

  it('ShadowPod + Registry of a Deployment pod: pushed by the source agent, adopted by the real ReplicaSet, 0 lost', {
    timeout: 300_000,
  }, async () => {
    const r = await migrate('sp-registry', deployment, { transferMode: 'Registry', targetPod: (s) => `${s}-shadow` });
    expect(r.status.phase, r.status.message).toBe('Completed');
    expect(r.missing).toEqual([]);
    const ref = `${registry!.host}/ms2m-sp-registry/${r.status.targetPod?.replace(/-shadow$/, '')}:checkpoint`;
    expect(await ociRegistry({ insecure: true }).exists(ref)).toBe(true);
    await eventually('only the migrated pod left in the Deployment', async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=app-sp-registry' });
      const live = list.items.filter((p) => !p.metadata?.deletionTimestamp);
      return live.length === 1 && live[0]?.spec?.nodeName === 'node-b' ? true : undefined;
    });
  });

  it('Sequential + Direct of a StatefulSet pod: scaled down and back by the real controller, 0 lost', {
    timeout: 300_000,
  }, async () => {
    const r = await migrate('seq-direct', statefulSet, {
      transferMode: 'Direct',
      targetPod: (s) => s,
      sequential: true,
    });
    expect(r.status.phase, r.status.message).toBe('Completed');
    expect(r.missing).toEqual([]);
    const pod = await eventually('app-seq-direct-0 adopted on node-b', async () => {
      const p = await core.readNamespacedPod({ namespace, name: 'app-seq-direct-0' });
      return p.spec?.nodeName === 'node-b' && p.metadata?.ownerReferences?.some((o) => o.kind === 'StatefulSet')
        ? p
        : undefined;
    });
    expect(pod.metadata?.deletionTimestamp).toBeUndefined();
  });

  it('Sequential + Registry of a StatefulSet pod: pushed by the source agent, restored under the same name, 0 lost', {
    timeout: 300_000,
  }, async () => {
    const r = await migrate('seq-registry', statefulSet, {
      transferMode: 'Registry',
      targetPod: (s) => s,
      sequential: true,
    });
    expect(r.status.phase, r.status.message).toBe('Completed');
    expect(r.missing).toEqual([]);
    expect(
      await ociRegistry({ insecure: true }).exists(`${registry!.host}/ms2m-seq-registry/app-seq-registry-0:checkpoint`),
    ).toBe(true);
    const pod = await core.readNamespacedPod({ namespace, name: 'app-seq-registry-0' });
    expect(pod.spec?.containers[0]?.imagePullPolicy).toBe('Always');
  });
});
