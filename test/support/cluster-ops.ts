/**
 * Small operations of the cluster tier's tests on the real local cluster: scaling the in-cluster operator
 * Deployment (and getting it back Ready), every pod a run ever had (by UID, from a watch), the checkpoint
 * archives the kubelet wrote for a pod, and a bounded wait on a promise.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod, Watch } from '@kubernetes/client-node';
import { runScenario, type ScenarioOptions, type ScenarioResult } from '../../eval/scenario.ts';
import { eventually } from './eventually.ts';

const SYSTEM_NS = 'ms2m-system';
const OPERATOR = 'ms2m-operator';

/** Scales the operator Deployment to `replicas` and waits until exactly that many of its pods run Ready (0: none left). */
export async function scaleOperator(kc: KubeConfig, replicas: number, timeoutMs = 120_000): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const scale = await apps.readNamespacedDeploymentScale({ name: OPERATOR, namespace: SYSTEM_NS });
  if (scale.spec?.replicas !== replicas) {
    await apps.replaceNamespacedDeploymentScale({
      name: OPERATOR,
      namespace: SYSTEM_NS,
      body: { ...scale, spec: { replicas } },
    });
  }
  await eventually(
    `Deployment ${SYSTEM_NS}/${OPERATOR} at ${replicas} Ready replica(s)`,
    async () => {
      const pods = await core.listNamespacedPod({
        namespace: SYSTEM_NS,
        labelSelector: `app.kubernetes.io/name=${OPERATOR}`,
      });
      const ready = pods.items.filter(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      if (replicas === 0) return pods.items.length === 0 ? true : undefined;
      const d = await apps.readNamespacedDeployment({ name: OPERATOR, namespace: SYSTEM_NS });
      return ready.length === replicas && d.status?.readyReplicas === replicas ? true : undefined;
    },
    timeoutMs,
  );
}

export interface PodSeen {
  uid: string;
  name: string;
  node?: string;
  /** Highest restart count of any container seen. */
  restarts: number;
  deleted: boolean;
}

/**
 * Watches the pods matching `labelSelector` in `namespace` and remembers every instance (UID) that ever existed,
 * until `stop()`. A watch the server ends is resumed from the last resourceVersion (relisted on 410).
 */
export async function podHistory(
  kc: KubeConfig,
  namespace: string,
  labelSelector: string,
): Promise<{ seen: Map<string, PodSeen>; stop(): void }> {
  const core = kc.makeApiClient(CoreV1Api);
  const watcher = new Watch(kc);
  const seen = new Map<string, PodSeen>();
  let stopped = false;
  let controller: AbortController | undefined;
  let resourceVersion = '';
  const note = (p: V1Pod, deleted = false) => {
    const uid = p.metadata?.uid;
    if (!uid) return;
    const prev = seen.get(uid);
    const restarts = Math.max(0, ...(p.status?.containerStatuses ?? []).map((c) => c.restartCount));
    seen.set(uid, {
      uid,
      name: p.metadata?.name ?? '',
      node: p.spec?.nodeName ?? prev?.node,
      restarts: Math.max(restarts, prev?.restarts ?? 0),
      deleted: deleted || (prev?.deleted ?? false),
    });
  };
  const list = async () => {
    const pods = await core.listNamespacedPod({ namespace, labelSelector });
    for (const p of pods.items) note(p);
    resourceVersion = pods.metadata?.resourceVersion ?? '';
  };
  const start = async (): Promise<void> => {
    if (stopped) return;
    controller = await watcher.watch(
      `/api/v1/namespaces/${namespace}/pods`,
      { labelSelector, resourceVersion, allowWatchBookmarks: true },
      (type, obj: V1Pod & { code?: number }) => {
        if (type === 'ERROR') return;
        if (obj.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
        if (type !== 'BOOKMARK') note(obj, type === 'DELETED');
      },
      (err: unknown) => {
        if (stopped) return;
        const again =
          (err as { statusCode?: number; code?: number } | undefined)?.code === 410 ? list() : Promise.resolve();
        setTimeout(() => void again.then(start).catch(() => setTimeout(() => void start(), 500)), 100);
      },
    );
  };
  await list();
  await start();
  return {
    seen,
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}

/** The kubelet's checkpoint archives of `namespace/pod` in `dir`: `checkpoint-<pod>_<namespace>-<container>-<time>.tar`. */
export function checkpointArchives(dir: string, namespace: string, pod: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(`checkpoint-${pod}_${namespace}-`) && f.endsWith('.tar'))
    .map((f) => join(dir, f));
}

export function removeFiles(paths: readonly string[]): void {
  for (const p of paths) rmSync(p, { force: true });
}

/** `p`, or an error naming `what` after `ms`. */
export async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Deletes what a scenario of eval/scenario.ts leaves in RabbitMQ (durable, so it outlives the run): its queue, its
 * replay queue if a failure left one, the control queues of its consumer and of the consumer's shadow, and its
 * exchange. Missing ones are fine.
 */
export async function deleteScenarioQueues(managementUrl: string, runId: string): Promise<void> {
  const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
  const names = [
    ['queues', `q-${runId}`],
    ['queues', `q-${runId}.ms2m-replay`],
    ['queues', `ms2m.control.consumer-${runId}`],
    ['queues', `ms2m.control.consumer-${runId}-shadow`],
    ['exchanges', `x-${runId}`],
  ];
  for (const [kind, name] of names) {
    const res = await fetch(`${managementUrl}/api/${kind}/%2F/${encodeURIComponent(name as string)}`, {
      method: 'DELETE',
      headers: { authorization: auth },
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok && res.status !== 404) throw new Error(`RabbitMQ: DELETE ${kind} ${name} answered ${res.status}`);
  }
}

/** Waits until no pod matching `labelSelector` is left in `namespace` (a consumer still running re-declares its queues). */
export async function untilPodsGone(
  kc: KubeConfig,
  namespace: string,
  labelSelector: string,
  timeoutMs = 60_000,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await eventually(
    `no pod ${labelSelector} left in ${namespace}`,
    async () => ((await core.listNamespacedPod({ namespace, labelSelector })).items.length === 0 ? true : undefined),
    timeoutMs,
  );
}

/** What a cluster-tier test file knows of its cluster (vitest's `inject('cluster')`) and where it runs. */
export interface ScenarioSite {
  kc: KubeConfig;
  cluster: { images: { workloads: string }; endpoints: { amqp: string } };
  namespace: string;
}

/**
 * `runScenario` with the cluster tier's defaults: a plain consumer pod migrated from node-a to node-b, a
 * producer at 10 msg/s, every line and progress report printed with the run's id (`o.onProgress` still called).
 */
export function clusterScenario(
  site: ScenarioSite,
  runId: string,
  o: Partial<ScenarioOptions>,
): Promise<ScenarioResult> {
  return runScenario({
    kc: site.kc,
    image: site.cluster.images.workloads,
    amqpUrl: site.cluster.endpoints.amqp,
    namespace: site.namespace,
    runId,
    workload: 'pod',
    sourceNode: 'node-a',
    targetNode: 'node-b',
    rate: 10,
    log: (line) => console.log(`[${runId}] ${line}`),
    ...o,
    onProgress: (p) => {
      console.log(`[${runId}] +${(p.elapsedMs / 1000).toFixed(1)}s ${p.phase} ${p.message ?? ''}`);
      o.onProgress?.(p);
    },
  });
}
