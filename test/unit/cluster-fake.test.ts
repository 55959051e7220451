/**
 * The Cluster contract against the in-memory fake (virtual time). Its controllers are simulations: the cases it
 * is known to get wrong run as `it.fails` (see the gaps below), so fixing the fake turns them red.
 */
import { virtualClock } from '../../adapters/clock/fake.ts';
import { FakeCluster } from '../../adapters/kubernetes/fake.ts';
import type { PodInfo } from '../../adapters/kubernetes/port.ts';
import { type ClusterUnderTest, clusterContract, fullContainer } from '../adapters/cluster.contract.ts';

let counter = 0;

function open(): ClusterUnderTest {
  const clock = virtualClock(Date.parse('2026-12-02T00:00:00Z'));
  const fake = new FakeCluster({ clock, nodes: ['node-a', 'node-b'], podStartupMs: 1000, podTerminationMs: 1000 });
  const k = (ns: string, name: string) => `${ns}/${name}`;
  const container = (name: string) => ({ name, image: 'registry.invalid/ms2m/consumer:1', spec: fullContainer(name) });
  const running = (
    namespace: string,
    name: string,
    node: string | undefined,
    labels: Record<string, string>,
    owner: PodInfo['ownerReferences'][number],
  ): PodInfo =>
    fake.addPod({
      namespace,
      name,
      nodeName: node,
      phase: 'Running',
      ready: true,
      deleting: false,
      labels,
      annotations: {},
      containers: [container('app')],
      ownerReferences: [owner],
      podSpec: {},
    });
  let nodes = 0;
  return {
    cluster: fake,
    clock,
    namespace: async (label) => `${label}-${++counter}`,
    // the fake's nodes are fixed at construction and always Ready
    readyNode: async () => (nodes++ % 2 === 0 ? 'node-a' : 'node-b'),
    owner: async (_ns, name) => ({ apiVersion: 'v1', kind: 'ConfigMap', name, uid: fake.newUid() }),
    async deployment(namespace, name, o) {
      const replicaSet = `${name}-7c9f5d`;
      const selector = { ...o.labels, 'pod-template-hash': '7c9f5d' };
      fake.replicaSets.set(k(namespace, replicaSet), {
        namespace,
        name: replicaSet,
        replicas: o.replicas,
        selector,
        deployment: name,
      });
      const ref = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: replicaSet,
        uid: `rs-${replicaSet}`,
        controller: true,
      };
      const pods = Array.from({ length: o.replicas }, (_, i) =>
        running(namespace, `${replicaSet}-p${i}`, o.node, selector, ref),
      );
      return { replicaSet, selector, pods };
    },
    async statefulSet(namespace, name, o) {
      fake.addStatefulSet({
        namespace,
        name,
        replicas: o.replicas,
        template: {
          namespace,
          phase: 'Pending',
          ready: false,
          deleting: false,
          labels: o.labels,
          annotations: {},
          containers: [container('app')],
          ownerReferences: [],
          podSpec: {},
        },
      });
      const ref = { apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid: `sts-${name}`, controller: true };
      return Array.from({ length: o.replicas }, (_, i) =>
        running(
          namespace,
          `${name}-${i}`,
          undefined,
          { ...o.labels, 'statefulset.kubernetes.io/pod-name': `${name}-${i}` },
          ref,
        ),
      );
    },
    async runPod(namespace, name) {
      const pod = fake.pods.get(k(namespace, name));
      if (pod) Object.assign(pod, { phase: 'Running', ready: true });
    },
    // a deleted pod disappears by itself after podTerminationMs of (virtual) time
    finishTermination: async () => {},
    listPods: async (namespace, selector) =>
      [...fake.pods.values()]
        .filter((p) => p.namespace === namespace && Object.entries(selector).every(([l, v]) => p.labels[l] === v))
        .map((p) => structuredClone(p)),
    deploymentAffinity: async (namespace, name) => {
      const node = fake.deploymentAffinity.get(k(namespace, name));
      return node ? [node] : [];
    },
    events: async (namespace, involvedName) =>
      fake.events
        .filter((e) => e.ref.namespace === namespace && e.ref.name === involvedName)
        .map((e) => ({ type: e.type, reason: e.reason, message: e.message, involvedObject: e.ref })),
  };
}

// no known gaps: the fake's StatefulSet controller also runs when a pod is released (as the real one does)
clusterContract('fake', open);
