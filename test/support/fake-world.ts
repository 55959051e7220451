/**
 * All fakes wired into one small world sharing a clock, a fault plan and an effect journal: two nodes, a
 * broker, kubelets, agents. Used by the fast test tiers, the property tests and the demo.
 */
import { FakeAgentClient } from '../../adapters/agent-client/fake.ts';
import type { Clock } from '../../adapters/clock/port.ts';
import { EffectJournal, type FaultPlan, noFaults } from '../../adapters/effect-journal.ts';
import { FakeKubelet } from '../../adapters/kubelet/fake.ts';
import { FakeCluster } from '../../adapters/kubernetes/fake.ts';
import type { PodInfo } from '../../adapters/kubernetes/port.ts';
import { FakeBroker } from '../../adapters/rabbitmq/fake.ts';

export interface FakeWorldOptions {
  clock: Clock;
  faults?: FaultPlan;
  /** `realistic` uses latencies close to SHADOW's measured ones; `instant` is for the fast tiers. */
  latencies?: 'instant' | 'realistic';
  producerRate?: number;
  consumerRate?: number;
  /** Messages waiting in the primary queue for the source when the replay queue is bound (FakeBrokerOptions). */
  primaryBacklog?: number;
  sourceRate?: number;
  targetSwitches?: boolean;
  failingPods?: Set<string>;
}

export type FakeWorld = ReturnType<typeof createFakeWorld>;

export const SOURCE_NODE = 'node-a';
export const TARGET_NODE = 'node-b';

/**
 * @example
 * ```ts
 * const world = createFakeWorld({ clock: virtualClock() });
 * world.seed('deployment'); // app pod owned by a ReplicaSet of Deployment "app"
 * ```
 */
export function createFakeWorld(opts: FakeWorldOptions) {
  const { clock } = opts;
  const journal = new EffectJournal(clock);
  const faults = opts.faults ?? noFaults;
  const real = opts.latencies === 'realistic';
  const cluster = new FakeCluster({
    clock,
    faults,
    journal,
    nodes: [SOURCE_NODE, TARGET_NODE],
    podStartupMs: real ? 2300 : 50,
    podTerminationMs: real ? 1500 : 20,
    failingPods: opts.failingPods,
  });
  const kubelet = new FakeKubelet({ clock, faults, journal, checkpointMs: real ? 380 : 0 });
  const broker = new FakeBroker({
    clock,
    faults,
    journal,
    producerRate: opts.producerRate ?? 10,
    consumerRate: opts.consumerRate ?? 100,
    ...(opts.primaryBacklog === undefined ? {} : { primaryBacklog: opts.primaryBacklog }),
    ...(opts.sourceRate === undefined ? {} : { sourceRate: opts.sourceRate }),
    ...(opts.targetSwitches === undefined ? {} : { targetSwitches: opts.targetSwitches }),
  });
  const agents = new FakeAgentClient({
    clock,
    faults,
    journal,
    bytesPerSecond: real ? 150e6 : 1e12,
    sizeOf: () => 30 * 1024 * 1024,
  });

  const basePod = (name: string, owner: PodInfo['ownerReferences']): Omit<PodInfo, 'uid'> => ({
    namespace: 'default',
    name,
    nodeName: SOURCE_NODE,
    phase: 'Running',
    ready: true,
    deleting: false,
    labels: { app: 'consumer', ...(owner[0]?.kind === 'ReplicaSet' ? { 'pod-template-hash': 'abc12' } : {}) },
    annotations: {},
    containers: [
      {
        name: 'consumer',
        image: 'registry.local/ms2m/consumer:1',
        spec: {
          name: 'consumer',
          image: 'registry.local/ms2m/consumer:1',
          env: [{ name: 'QUEUE', value: 'orders' }],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
          readinessProbe: { exec: { command: ['cat', '/tmp/ready'] } },
        },
      },
    ],
    ownerReferences: owner,
    podSpec: { volumes: [{ name: 'data', emptyDir: {} }], serviceAccountName: 'consumer', nodeName: SOURCE_NODE },
  });

  /** Seeds the source workload; returns the source pod's name. */
  function seed(kind: 'pod' | 'deployment' | 'statefulset'): string {
    if (kind === 'pod') return cluster.addPod(basePod('consumer', [])).name;
    if (kind === 'deployment') {
      cluster.replicaSets.set('default/consumer-abc12', {
        namespace: 'default',
        name: 'consumer-abc12',
        replicas: 1,
        selector: { app: 'consumer', 'pod-template-hash': 'abc12' },
        deployment: 'consumer',
      });
      const owner = [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'consumer-abc12',
          uid: 'rs-consumer-abc12',
          controller: true,
        },
      ];
      return cluster.addPod(basePod('consumer-abc12-x7k2p', owner)).name;
    }
    const owner = [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'consumer', uid: 'sts-consumer', controller: true },
    ];
    const pod = cluster.addPod(basePod('consumer-0', owner));
    const { name: _n, uid: _u, nodeName: _nn, ...template } = pod;
    cluster.addStatefulSet({ namespace: 'default', name: 'consumer', replicas: 1, template });
    return pod.name;
  }

  /** Everything the world holds, as JSON. */
  function save() {
    return { cluster: cluster.toJSON(), broker: broker.toJSON(), agents: agents.toJSON(), journal: journal.entries };
  }
  /** Restores a saved world (a restarted demo process continues in the same world). */
  function load(state: ReturnType<typeof save>): void {
    cluster.load(state.cluster);
    broker.load(state.broker);
    agents.load(state.agents);
    journal.entries.push(...state.journal);
  }

  return { clock, journal, cluster, kubelet, broker, agents, seed, save, load };
}
