/**
 * One MS2M scenario on the real local cluster, as the demo, the e2e tests and the `e2e` benchmark run it: a
 * producer at a fixed rate and a consumer (plain Pod, Deployment or StatefulSet) on the source node, a
 * StatefulMigration to the target node followed to the end, the consumer's HTTP endpoint probed every 10 ms
 * meanwhile, and the accounting: every produced sequence processed exactly once by the consumer that is left,
 * its in-memory state continued across the restore.
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { statefulMigrationResource as R, type StatefulMigrationSpecInput } from '../actors/crd/stateful-migration.ts';
import { type DowntimeReport, startDowntimeProbe } from './downtime-probe.ts';
import { type MigrationProgress, type MigrationResult, runMigration } from './migration-run.ts';
import type { ConsumerState } from './workloads/consumer-app.ts';
import {
  consumerDeployment,
  consumerPod,
  consumerService,
  consumerStatefulSet,
  HTTP_PORT,
  producerPod,
} from './workloads/manifests.ts';

export type WorkloadKind = 'pod' | 'deployment' | 'statefulset';

export interface ScenarioOptions {
  kc: KubeConfig;
  /** The `ms2m/workloads` image as the nodes pull it. */
  image: string;
  /** Broker URL as pods and the operator reach it. */
  amqpUrl: string;
  /** Created (labelled as ours) if missing. */
  namespace: string;
  /** Names the migration, the queue and the exchange of this run. */
  runId: string;
  workload: WorkloadKind;
  sourceNode: string;
  targetNode: string;
  spec?: Partial<StatefulMigrationSpecInput>;
  /** Messages per second (default 10). */
  rate?: number;
  /** Messages the producer sends in all (default: rate × 30 s). */
  messages?: number;
  /** Sequences the consumer has processed before the migration starts (default: rate × 3). */
  warmupMessages?: number;
  /** Consumer processing delay per message (default 50 ms). */
  delayMs?: number;
  /** Extra consumer memory (MiB) to size the checkpoint. */
  ballastMib?: number;
  migrationTimeoutMs?: number;
  /**
   * How the migration must end (default Completed). Failed (a failure test): the compensated source must still be
   * Running on the source node, and the accounting is the source's. `any` (the evaluation): either end is a result.
   */
  expectPhase?: 'Completed' | 'Failed' | 'any';
  /** Extra labels of the workload's pods and of the StatefulMigration (the evaluation's run labels). */
  labels?: Record<string, string>;
  /** Called with the StatefulMigration's uid as soon as it is created. */
  onMigrationCreated?: (uid: string) => void;
  onProgress?: (p: MigrationProgress) => void;
  log?: (line: string) => void;
}

export interface Accounting {
  produced: number;
  processed: number;
  /** Produced sequences the final consumer never processed. */
  lost: number;
  /** Sequences processed more than once by the final consumer (its state holds each once: 0 unless it broke). */
  duplicated: number;
  /** Redeliveries the consumer recognised by sequence and skipped. */
  redeliveriesSkipped: number;
  /** Every sequence 1..produced processed, sum and count match. */
  exactlyOnce: boolean;
  /**
   * The consumer that is left kept counting from the source's state: restored from the checkpoint (Completed), or
   * the source pod itself still counting (Failed).
   */
  continued: boolean;
}

export interface ScenarioResult {
  migration: MigrationResult;
  downtime: DowntimeReport;
  accounting: Accounting;
  sourcePod: string;
  finalPod: string;
  before: ConsumerState;
  /** The consumer that is left, read as soon as the migration had ended (and its pod was Ready). */
  atEnd: ConsumerState;
  after: ConsumerState;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, f: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastErr ? `: ${lastErr}` : ''}`);
    await sleep(200);
  }
}

export async function consumerState(ip: string): Promise<ConsumerState> {
  const res = await fetch(`http://${ip}:${HTTP_PORT}/state`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`consumer at ${ip} answered ${res.status}`);
  return (await res.json()) as ConsumerState;
}

async function producerState(ip: string): Promise<{ sent: number; done: boolean }> {
  const res = await fetch(`http://${ip}:${HTTP_PORT}/state`, { signal: AbortSignal.timeout(2000) });
  return (await res.json()) as { sent: number; done: boolean };
}

const ready = (p: V1Pod) =>
  p.status?.phase === 'Running' &&
  p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
  p.status.podIP
    ? p
    : null;

/**
 * Runs the scenario and returns its figures; removes what it created unless it failed and `keep` is set.
 *
 * @example
 * ```ts
 * const r = await runScenario({ kc, image, amqpUrl, namespace: 'demo', runId: 'r1', workload: 'pod',
 *   sourceNode: 'node-a', targetNode: 'node-b', spec: { transferMode: 'Direct' } });
 * r.accounting.lost; // 0
 * ```
 */
export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const log = o.log ?? (() => {});
  const core = o.kc.makeApiClient(CoreV1Api);
  const apps = o.kc.makeApiClient(AppsV1Api);
  const ns = o.namespace;
  const rate = o.rate ?? 10;
  const messages = o.messages ?? rate * 30;
  const queue = `q-${o.runId}`;
  const exchange = `x-${o.runId}`;
  const consumerName = `consumer-${o.runId}`;
  const producerName = `producer-${o.runId}`;

  await core
    .createNamespace({ body: { metadata: { name: ns, labels: { 'app.kubernetes.io/created-by': 'ms2m-eval' } } } })
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  const common = {
    namespace: ns,
    image: o.image,
    imagePullPolicy: 'IfNotPresent' as const,
    amqpUrl: o.amqpUrl,
    queue,
    exchange,
    nodeName: o.sourceNode,
    ...(o.labels ? { labels: o.labels } : {}),
  };
  const consumerOpts = {
    ...common,
    name: consumerName,
    delayMs: o.delayMs ?? 50,
    ballastMib: o.ballastMib ?? 0,
    logLevel: 'warn' as const,
  };
  // the consumer first: it declares and binds the queue before the producer publishes
  if (o.workload === 'pod') await core.createNamespacedPod({ namespace: ns, body: consumerPod(consumerOpts) });
  if (o.workload === 'deployment')
    await apps.createNamespacedDeployment({ namespace: ns, body: consumerDeployment(consumerOpts) });
  if (o.workload === 'statefulset') {
    await core.createNamespacedService({ namespace: ns, body: consumerService({ name: consumerName, namespace: ns }) });
    await apps.createNamespacedStatefulSet({ namespace: ns, body: consumerStatefulSet(consumerOpts) });
  }
  const source = await until(`the consumer (${o.workload}) Ready on ${o.sourceNode}`, 120_000, async () => {
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${consumerName}` });
    return pods.items.map(ready).find(Boolean) ?? null;
  });
  const sourcePod = source.metadata?.name as string;
  const sourceIp = source.status?.podIP as string;
  await until('the consumer connected to RabbitMQ', 60_000, async () => (await consumerState(sourceIp)).connected);
  await core.createNamespacedPod({
    namespace: ns,
    body: producerPod({ ...common, name: producerName, rate, count: messages, logLevel: 'warn' }),
  });
  const producer = await until('the producer Ready', 120_000, async () =>
    ready(await core.readNamespacedPod({ name: producerName, namespace: ns })),
  );
  const producerIp = producer.status?.podIP as string;
  const warmup = o.warmupMessages ?? rate * 3;
  await until(
    `${warmup} messages processed before the migration`,
    120_000,
    async () => (await consumerState(sourceIp)).processed >= warmup,
  );
  const before = await consumerState(sourceIp);
  log(
    `consumer ${sourcePod} on ${o.sourceNode} has processed ${before.processed} messages; migrating to ${o.targetNode}`,
  );

  let targetIp: string | null = null;
  let targetName: string | null = null;
  const probe = startDowntimeProbe(() => [
    `http://${sourceIp}:${HTTP_PORT}/healthz`,
    ...(targetIp ? [`http://${targetIp}:${HTTP_PORT}/healthz`] : []),
  ]);
  // learns the target pod's address as soon as the operator names it
  const watchTarget = setInterval(() => {
    void (async () => {
      if (targetIp) return;
      const pods = await core
        .listNamespacedPod({ namespace: ns, labelSelector: `app=${consumerName}` })
        .catch(() => null);
      const t = pods?.items.find((p) => p.spec?.nodeName === o.targetNode && p.status?.podIP);
      if (t) {
        targetIp = t.status?.podIP ?? null;
        targetName = t.metadata?.name ?? null;
      }
    })();
  }, 100);
  let migration: MigrationResult;
  try {
    migration = await runMigration(
      o.kc,
      ns,
      `mig-${o.runId}`,
      {
        sourcePod,
        targetNode: o.targetNode,
        messageQueueConfig: { queueName: queue, exchangeName: exchange, brokerUrl: o.amqpUrl },
        ...o.spec,
      },
      {
        timeoutMs: o.migrationTimeoutMs ?? 180_000,
        onProgress: o.onProgress,
        labels: o.labels,
        onCreated: o.onMigrationCreated,
      },
    );
    await sleep(500);
  } finally {
    clearInterval(watchTarget);
  }
  const downtime = await probe.stop();
  const expectPhase = o.expectPhase ?? 'Completed';
  if (expectPhase !== 'any' && migration.phase !== expectPhase) {
    throw new Error(
      `StatefulMigration ${ns}/mig-${o.runId} ended ${migration.phase}, expected ${expectPhase}: ${migration.status.message ?? ''}`,
    );
  }
  const failed = migration.phase === 'Failed';
  const finalPod = failed ? sourcePod : ((migration.status.targetPod as string | undefined) ?? targetName ?? '');
  const finalNode = failed ? o.sourceNode : o.targetNode;
  const final = await until(
    `the ${failed ? 'source' : 'migrated'} consumer ${finalPod} Ready on ${finalNode}`,
    60_000,
    async () => {
      const p = ready(await core.readNamespacedPod({ name: finalPod, namespace: ns }));
      // after a failure it is the source itself, the same instance
      return p && p.spec?.nodeName === finalNode && (!failed || p.metadata?.uid === source.metadata?.uid) ? p : null;
    },
  );
  const finalIp = final.status?.podIP as string;
  const atEnd = await until(`the state of ${finalPod}`, 30_000, () => consumerState(finalIp));
  await until(
    `the producer to send all ${messages} messages`,
    (messages / rate) * 1000 + 120_000,
    async () => (await producerState(producerIp)).done,
  );
  const produced = (await producerState(producerIp)).sent;
  const after = await until(`the consumer to catch up with ${produced} messages`, 180_000, async () => {
    const s = await consumerState(finalIp);
    return s.contiguousTo >= produced || s.processed >= produced ? s : null;
  }).catch(async () => consumerState(finalIp));
  const expectedSum = (produced * (produced + 1)) / 2;
  const accounting: Accounting = {
    produced,
    processed: after.processed,
    lost: Math.max(0, produced - after.checksum.count),
    duplicated: Math.max(0, after.processed - after.checksum.count),
    redeliveriesSkipped: after.duplicates.skipped,
    exactlyOnce:
      after.checksum.count === produced &&
      after.contiguousTo === produced &&
      after.maxSeq === produced &&
      after.checksum.sum === expectedSum,
    continued: failed
      ? after.restores === 0 && after.processed >= before.processed && after.pod === sourcePod
      : after.restores >= 1 && after.processed >= before.processed && after.pod === finalPod,
  };
  log(
    `accounting: produced ${produced}, processed ${after.processed}, lost ${accounting.lost}, duplicated ${accounting.duplicated}`,
  );
  return { migration, downtime, accounting, sourcePod, finalPod, before, atEnd, after };
}

/** Removes the run's workload objects (the namespace stays: other runs may share it). */
export async function cleanupScenario(kc: KubeConfig, namespace: string, runId: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const name = `consumer-${runId}`;
  const ignore = () => {};
  await apps.deleteNamespacedDeployment({ name, namespace }).catch(ignore);
  await apps.deleteNamespacedStatefulSet({ name, namespace }).catch(ignore);
  await core.deleteNamespacedService({ name, namespace }).catch(ignore);
  await core
    .deleteCollectionNamespacedPod({ namespace, labelSelector: `app=${name}`, gracePeriodSeconds: 0 })
    .catch(ignore);
  await core.deleteNamespacedPod({ name: `producer-${runId}`, namespace, gracePeriodSeconds: 0 }).catch(ignore);
  await kc
    .makeApiClient(CustomObjectsApi)
    .deleteNamespacedCustomObject({
      group: R.group,
      version: R.version,
      plural: R.plural,
      namespace,
      name: `mig-${runId}`,
    })
    .catch(ignore);
}
