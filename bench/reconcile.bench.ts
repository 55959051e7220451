// Controller-added latency on a real API server (kube-apiserver + etcd + controllers), instant fakes behind the
// kubelet, broker and agent ports, the embedded file log. Two figures, both "something comes in -> the
// operator's next API write goes out":
//   transition (p50_ms, p99_ms): an adapter hands back a fact (the host starts its append) -> the status PATCH
//     that carries it is sent (log append with fdatasync + chart + observer loop included);
//   watch (watch_p50_ms, watch_p99_ms): a StatefulMigration's ADDED watch event arrives -> the finalizer PATCH.
// Targets p50 <= 5 ms, p99 <= 50 ms (SHADOW requeues every 1-5 s). log_append_* shows how much of a transition
// is the embedded log's append (fdatasync), which depends on the disk and the machine's load.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import type { MigrationClient } from '../actors/controller/migration-observers.ts';
import { createOperator } from '../actors/controller/operator.ts';
import { FakeAgentClient } from '../adapters/agent-client/fake.ts';
import { systemClock } from '../adapters/clock/system.ts';
import { EffectJournal } from '../adapters/effect-journal.ts';
import type { EventLog } from '../adapters/event-log/port.ts';
import { openFileLog } from '../adapters/file-log/file-log.ts';
import { FakeKubelet } from '../adapters/kubelet/fake.ts';
import { CustomResourceClient } from '../adapters/kubernetes/custom-resources.ts';
import { KubeCluster } from '../adapters/kubernetes/kubernetes.ts';
import { openJetStreamLog } from '../adapters/nats/jetstream-log.ts';
import { FakeBroker } from '../adapters/rabbitmq/fake.ts';
import { startControlPlane } from '../cluster/control-plane/control-plane.ts';
import type { StreamKey } from '../machines/envelope.ts';
import { type NatsServer, startNats } from '../test/harness/nats.ts';
import { eventually } from '../test/support/eventually.ts';
import { NodeSimulator } from '../test/support/node-simulator.ts';
import { installOperatorPrerequisites } from '../test/support/operator-env.ts';
import { percentile } from './percentiles.ts';

/** `target` with some methods replaced; the others are called on `target` itself (private fields keep working). */
function withOverrides<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, k) {
      if (k in overrides) return overrides[k as keyof T];
      const v = Reflect.get(t, k, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

const MIGRATIONS = Number(process.env.RECONCILE_MIGRATIONS ?? 30);
const GROUP = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };

export async function run(): Promise<Record<string, unknown>> {
  const cp = await startControlPlane({ log: (l) => console.error(`[controlplane] ${l}`) });
  const dir = await mkdtemp(join(tmpdir(), 'ms2m-bench-reconcile-'));
  const logger = pino({ level: 'silent' });
  const nodes: NodeSimulator[] = [];
  let nats: NatsServer | undefined;
  try {
    const { admin, operator: kc } = await installOperatorPrerequisites(cp.info);
    const sim = new NodeSimulator({ kubeConfig: admin, nodes: ['node-a', 'node-b'] });
    nodes.push(sim);
    await sim.start();
    const env = { admin, kc, logger };
    const fileLog = await openFileLog({ dir, logger });
    const file = await measure(env, 'file', fileLog);
    await fileLog.close();
    // the same with JetStream as the log: what the controller adds when the log's append is sub-millisecond
    nats = await startNats();
    const jsLog = await openJetStreamLog({ servers: nats.url, logger });
    const js = await measure(env, 'jetstream', jsLog);
    await jsLog.close();
    return {
      migrations: MIGRATIONS,
      transitions: file.transitions,
      p50_ms: file.p50,
      p99_ms: file.p99,
      watch_p50_ms: file.watchP50,
      watch_p99_ms: file.watchP99,
      // where the time goes: the embedded log's fdatasync per event
      log_append_p50_ms: file.appendP50,
      log_append_p99_ms: file.appendP99,
      jetstream_p50_ms: js.p50,
      jetstream_p99_ms: js.p99,
      jetstream_log_append_p50_ms: js.appendP50,
      target_p50_ms: 5,
      target_p99_ms: 50,
    };
  } finally {
    for (const n of nodes) await n.stop();
    await nats?.stop();
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs MIGRATIONS migrations one after another in a fresh namespace with `baseLog` as the event log. */
async function measure(
  env: { admin: KubeConfig; kc: KubeConfig; logger: pino.Logger },
  namespace: string,
  baseLog: EventLog,
) {
  const { admin, kc, logger } = env;
  const core = admin.makeApiClient(CoreV1Api);
  const crs = admin.makeApiClient(CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await eventually('ServiceAccount default', () => core.readNamespacedServiceAccount({ name: 'default', namespace }));
  // timestamps: fact handed to the log (by migration and seq), status PATCHes and finalizer PATCHes sent
  const factAt = new Map<string, number[]>();
  const patchAt = new Map<string, number[]>();
  const addedAt = new Map<string, number>();
  const finalizerAt = new Map<string, number>();
  const appendMs: number[] = [];
  const log: EventLog = withOverrides<EventLog>(baseLog, {
    append: (key: StreamKey, ev: Parameters<EventLog['append']>[1], expectSeq: number) => {
      const name = key.id.split('/')[1] as string;
      factAt.set(name, [...(factAt.get(name) ?? []), performance.now()]);
      const t0 = performance.now();
      return baseLog.append(key, ev, expectSeq).then((stored) => {
        appendMs.push(performance.now() - t0);
        return stored;
      });
    },
  });
  const client: MigrationClient = new CustomResourceClient(kc, { ...GROUP, kind: 'StatefulMigration' }, namespace);
  const timedClient = withOverrides(client, {
    patchStatus: (ns: string, name: string, status: object) => {
      patchAt.set(name, [...(patchAt.get(name) ?? []), performance.now()]);
      return client.patchStatus(ns, name, status);
    },
    setFinalizer: (...args: Parameters<MigrationClient['setFinalizer']>) => {
      const [, name, , present] = args;
      if (present && !finalizerAt.has(name)) finalizerAt.set(name, performance.now());
      return client.setFinalizer(...args);
    },
    watch: (o: Parameters<typeof client.watch>[0]) =>
      client.watch({
        ...o,
        onEvent: (type, cr) => {
          if (type === 'ADDED' && !addedAt.has(cr.metadata.name)) addedAt.set(cr.metadata.name, performance.now());
          o.onEvent(type, cr);
        },
      }),
  });
  const clock = systemClock();
  const journal = new EffectJournal(clock);
  const operator = createOperator({
    logger,
    migrations: timedClient,
    effects: {
      cluster: new KubeCluster({ kubeConfig: kc, logger }),
      kubelet: new FakeKubelet({ clock, journal }),
      broker: new FakeBroker({ clock, journal, producerRate: 0, consumerRate: 1000 }),
      agents: new FakeAgentClient({ clock, journal, bytesPerSecond: 1e12, sizeOf: () => 30 * 1024 * 1024 }),
      clock,
      pollMs: 20,
      sampleHeartbeatMs: 500,
    },
    log,
    runtime: { maxAttempts: 3, retryBaseMs: 50 },
  });
  await operator.start();
  await eventually('operator synced', async () => (operator.ready ? true : undefined));

  for (let i = 0; i < MIGRATIONS; i++) {
    const pod = `src-${i}`;
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: pod, labels: { app: pod } },
        spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'registry.invalid/c:1' }] },
      },
    });
    await eventually(`Pod ${pod} Ready`, async () => {
      const p = await core.readNamespacedPod({ namespace, name: pod });
      return p.status?.phase === 'Running' ? true : undefined;
    });
    // one at a time: the latency of the operator, not of a queue of 30 migrations on 2 cores
    await crs.createNamespacedCustomObject({
      ...GROUP,
      namespace,
      body: {
        apiVersion: 'migration.ms2m.io/v1alpha1',
        kind: 'StatefulMigration',
        metadata: { name: `m-${i}` },
        spec: {
          sourcePod: pod,
          targetNode: 'node-b',
          replayCutoffSeconds: 1,
          messageQueueConfig: { queueName: `q${i}`, exchangeName: `x${i}`, brokerUrl: 'amqp://fake:5672' },
        },
      },
    });
    await eventually(
      `m-${i} finished`,
      async () => {
        const m = (await crs.getNamespacedCustomObject({ ...GROUP, namespace, name: `m-${i}` })) as {
          status?: { phase?: string };
        };
        return m.status?.phase === 'Completed' || m.status?.phase === 'Failed' ? m.status.phase : undefined;
      },
      60_000,
    );
  }
  await operator.stop();

  const transition: number[] = [];
  for (const [name, facts] of factAt) {
    const patches = patchAt.get(name) ?? [];
    for (const t of facts) {
      const next = patches.find((p) => p >= t);
      if (next !== undefined) transition.push(next - t);
    }
  }
  const watch = [...addedAt].flatMap(([name, t]) => {
    const f = finalizerAt.get(name);
    return f === undefined ? [] : [f - t];
  });
  transition.sort((a, b) => a - b);
  appendMs.sort((a, b) => a - b);
  watch.sort((a, b) => a - b);
  return {
    transitions: transition.length,
    p50: percentile(transition, 50),
    p99: percentile(transition, 99),
    watchP50: percentile(watch, 50),
    watchP99: percentile(watch, 99),
    appendP50: percentile(appendMs, 50),
    appendP99: percentile(appendMs, 99),
  };
}
