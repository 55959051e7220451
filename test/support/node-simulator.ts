/**
 * Plays the nodes for the control-plane tier, as envtest users do: registers Node objects (Ready, with
 * capacity, so kube-scheduler binds pods to them), keeps their heartbeat and node Lease fresh (so the node
 * lifecycle controller never marks them unreachable), marks every pod bound to them Running+Ready, and finishes
 * the deletion of pods being deleted (a kubelet would confirm it). No containers run.
 */
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const HEARTBEAT_MS = 5000;

/**
 * The status a kubelet reports for `pod` once its containers run: Running, every condition True since
 * `readySince` (default now), every container started and Ready.
 */
export function runningPodStatus(pod: V1Pod, o: { readySince?: Date; podIP?: string } = {}) {
  const now = new Date().toISOString();
  const since = o.readySince?.toISOString() ?? now;
  return {
    phase: 'Running',
    ...(o.podIP ? { podIP: o.podIP } : {}),
    startTime: now,
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
      type,
      status: 'True',
      lastTransitionTime: since,
    })),
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      ready: true,
      started: true,
      restartCount: 0,
      state: { running: { startedAt: now } },
    })),
  };
}

export interface NodeSimulatorOptions {
  kubeConfig: KubeConfig;
  nodes: string[];
  /** Pods whose names match never become Ready (a stuck target). */
  neverReady?: (pod: V1Pod) => boolean;
  /** Delay before a bound pod is marked Running+Ready (ms). Default 0. */
  startupMs?: number;
  /** A node's kubelet endpoint (InternalIP and port), for the API server's node proxy (a netns stand-in). */
  kubelets?: Record<string, { ip: string; port: number }>;
}

/**
 * @example
 * ```ts
 * const nodes = new NodeSimulator({ kubeConfig: admin, nodes: ['node-a', 'node-b'] });
 * await nodes.start();
 * await nodes.stop();
 * ```
 */
export class NodeSimulator {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private heartbeat: NodeJS.Timeout | undefined;
  private watch: AbortController | undefined;
  private stopped = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Pod uids marked ready, and pods force-deleted (so each is handled once). */
  private readonly handled = new Set<string>();

  constructor(private readonly o: NodeSimulatorOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.coordination = o.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  async start(): Promise<void> {
    for (const name of this.o.nodes) await this.register(name);
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), HEARTBEAT_MS);
    const pods = await this.core.listPodForAllNamespaces({});
    for (const pod of pods.items) this.handle(pod);
    this.watch = await new Watch(this.o.kubeConfig).watch(
      '/api/v1/pods',
      { resourceVersion: pods.metadata?.resourceVersion },
      (_type, pod: V1Pod) => this.handle(pod),
      (err) => {
        if (!this.stopped && err) void this.restartWatch();
      },
    );
  }

  private async restartWatch(): Promise<void> {
    if (this.stopped) return;
    const pods = await this.core.listPodForAllNamespaces({});
    for (const pod of pods.items) this.handle(pod);
    this.watch = await new Watch(this.o.kubeConfig).watch(
      '/api/v1/pods',
      { resourceVersion: pods.metadata?.resourceVersion },
      (_type, pod: V1Pod) => this.handle(pod),
      (err) => {
        if (!this.stopped && err) void this.restartWatch();
      },
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.watch?.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch(() => undefined).finally(() => this.inFlight.delete(t));
    this.inFlight.add(t);
  }

  private handle(pod: V1Pod): void {
    if (this.stopped) return;
    const node = pod.spec?.nodeName;
    const uid = pod.metadata?.uid;
    if (!node || !uid || !this.o.nodes.includes(node)) return;
    const ns = pod.metadata?.namespace as string;
    const name = pod.metadata?.name as string;
    if (pod.metadata?.deletionTimestamp) {
      if (this.handled.has(`gone:${uid}`)) return;
      this.handled.add(`gone:${uid}`);
      // what the kubelet does once the containers stopped: confirm with a zero grace period and the UID
      this.track(
        this.core.deleteNamespacedPod({
          namespace: ns,
          name,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid } },
        }),
      );
      return;
    }
    if (this.handled.has(`ready:${uid}`) || pod.status?.phase === 'Running') return;
    if (this.o.neverReady?.(pod)) return;
    this.handled.add(`ready:${uid}`);
    this.track(
      (async () => {
        if (this.o.startupMs) await new Promise((r) => setTimeout(r, this.o.startupMs));
        await this.core.patchNamespacedPodStatus(
          {
            namespace: ns,
            name,
            body: {
              status: runningPodStatus(pod, { podIP: '10.244.0.10' }),
            },
          },
          merge,
        );
      })(),
    );
  }

  private async register(name: string): Promise<void> {
    try {
      await this.core.createNode({
        body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } }, spec: {} },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }

  private async beat(): Promise<void> {
    const now = new Date().toISOString();
    for (const name of this.o.nodes) {
      await this.core.patchNodeStatus(
        {
          name,
          body: {
            status: {
              capacity: { cpu: '8', memory: '32Gi', pods: '110' },
              allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'KubeletReady',
                  lastHeartbeatTime: now,
                  lastTransitionTime: now,
                },
              ],
              addresses: [
                ...(this.o.kubelets?.[name] ? [{ type: 'InternalIP', address: this.o.kubelets[name].ip }] : []),
                { type: 'Hostname', address: name },
              ],
              ...(this.o.kubelets?.[name]
                ? { daemonEndpoints: { kubeletEndpoint: { Port: this.o.kubelets[name].port } } }
                : {}),
            },
          },
        },
        merge,
      );
      const lease = {
        metadata: { name, namespace: 'kube-node-lease' },
        spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new V1MicroTime() },
      };
      try {
        const current = await this.coordination.readNamespacedLease({ name, namespace: 'kube-node-lease' });
        await this.coordination.replaceNamespacedLease({
          name,
          namespace: 'kube-node-lease',
          body: { ...lease, metadata: { ...lease.metadata, resourceVersion: current.metadata?.resourceVersion } },
        });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
        await this.coordination.createNamespacedLease({ namespace: 'kube-node-lease', body: lease });
      }
    }
  }
}
