/**
 * The Cluster contract against the real adapter (KubeCluster) on the tier's kube-apiserver with
 * kube-controller-manager: the ReplicaSet, StatefulSet and garbage-collector controllers do the adopting and
 * deleting. No kubelet runs here, so the harness plays it as admin: it binds pods to registered Nodes, patches
 * `/status` to Running+Ready, and finishes the termination of a bound pod being deleted (a graceful delete of a
 * bound pod waits for the kubelet's final `gracePeriodSeconds: 0` delete; an unbound pod goes at once).
 * Names come from a seeded generator (`MS2M_TEST_SEED`, printed) so a failing run can be repeated.
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { systemClock } from '../../adapters/clock/system.ts';
import { KubeCluster } from '../../adapters/kubernetes/kubernetes.ts';
import { podInfo } from '../../adapters/kubernetes/pod-mapping.ts';
import { type ClusterUnderTest, clusterContract, fullContainer } from '../adapters/cluster.contract.ts';
import { makeUserKubeconfig } from '../harness/control-plane.ts';
import { runningPodStatus } from '../support/node-simulator.ts';

const cp = inject('controlPlane');
const kc = new KubeConfig();
kc.loadFromFile(cp.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const clock = systemClock();
const cluster = new KubeCluster({ kubeConfig: kc, logger: pino({ level: 'silent' }) });
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const seed = Number(process.env.MS2M_TEST_SEED ?? Date.now() % 2 ** 31);
console.log(`[cluster.test] MS2M_TEST_SEED=${seed}`);
/** mulberry32: a small seeded generator for names. */
const random = (() => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
})();
const suffix = () =>
  Math.floor(random() * 36 ** 5)
    .toString(36)
    .padStart(5, '0');

/** A nodeSelector no node has: the scheduler leaves the pods alone, the harness binds them where a case says. */
const NEVER_SCHEDULED = { 'ms2m.io/contract': 'never-scheduled' };
const namespaces: string[] = [];
const nodes: string[] = [];

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms`, { cause: last });
    await clock.sleepUntil(Date.now() + 100);
  }
}

const httpCode = (err: unknown) => (err instanceof ApiException ? err.code : undefined);

async function createNamespace(label: string): Promise<string> {
  const name = `c-${label}-${suffix()}`.slice(0, 63);
  await core.createNamespace({ body: { metadata: { name, labels: { 'ms2m.io/test': 'cluster-contract' } } } });
  namespaces.push(name);
  // the ServiceAccount admission plugin refuses pods until the controller manager made `default`
  await until(`ServiceAccount ${name}/default`, () =>
    core.readNamespacedServiceAccount({ namespace: name, name: 'default' }),
  );
  return name;
}

async function registerNode(label: string, ready: boolean): Promise<string> {
  const name = `ms2m-c-${label}-${suffix()}`.slice(0, 63);
  const now = new Date();
  await core.createNode({
    body: { metadata: { name, labels: { 'kubernetes.io/hostname': name, 'ms2m.io/test': 'cluster-contract' } } },
  });
  nodes.push(name);
  await core.patchNodeStatus(
    {
      name,
      body: {
        status: {
          capacity: { cpu: '4', memory: '8Gi', pods: '110' },
          allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
          conditions: [
            {
              type: 'Ready',
              status: ready ? 'True' : 'False',
              reason: ready ? 'KubeletReady' : 'KubeletNotReady',
              message: 'registered by test/controlplane/cluster.test.ts: no kubelet',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    },
    merge,
  );
  return name;
}

/**
 * Plays the kubelet: Running and Ready since `readySince`. The ReplicaSet ranks surplus pods by how long they have
 * been Ready on a logarithmic scale (LogarithmicScaleDown): pods a test made seconds apart tie, and ties go by UID.
 */
async function runPod(namespace: string, name: string, readySince = new Date()): Promise<void> {
  const pod = await core.readNamespacedPod({ namespace, name });
  await core.patchNamespacedPodStatus(
    { namespace, name, body: { status: runningPodStatus(pod, { readySince }) } },
    merge,
  );
}

function podTemplate(labels: Record<string, string>) {
  return {
    metadata: { labels },
    spec: {
      nodeSelector: NEVER_SCHEDULED,
      containers: [fullContainer('app')],
      volumes: [
        { name: 'data', emptyDir: {} },
        { name: 'config', configMap: { name: 'consumer-config', defaultMode: 420 } },
      ],
    },
  } as unknown as V1PodTemplateSpec;
}

const selectorOf = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

function open(): ClusterUnderTest {
  return {
    cluster,
    clock,
    namespace: createNamespace,
    readyNode: (label) => registerNode(label, true),
    async owner(namespace, name) {
      const cm = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name } } });
      return { apiVersion: 'v1', kind: 'ConfigMap', name, uid: cm.metadata!.uid! };
    },
    async deployment(namespace, name, o) {
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name },
          spec: { replicas: o.replicas, selector: { matchLabels: o.labels }, template: podTemplate(o.labels) },
        },
      });
      const rs = await until(`ReplicaSet of Deployment ${namespace}/${name}`, async () => {
        const list = await apps.listNamespacedReplicaSet({ namespace, labelSelector: selectorOf(o.labels) });
        return list.items.find((r) => r.metadata?.ownerReferences?.some((ref) => ref.controller && ref.name === name));
      });
      const selector = rs.spec!.selector.matchLabels!;
      const created = await until(`${o.replicas} pods of ReplicaSet ${rs.metadata!.name}`, async () => {
        const list = await core.listNamespacedPod({ namespace, labelSelector: selectorOf(selector) });
        return list.items.length === o.replicas ? list.items : undefined;
      });
      for (const pod of created) {
        const podName = pod.metadata!.name!;
        await core.createNamespacedPodBinding({
          namespace,
          name: podName,
          body: {
            metadata: { name: podName },
            target: { apiVersion: 'v1', kind: 'Node', name: o.node },
          },
        });
        // a workload that has been serving for an hour, as a migration's source has
        await runPod(namespace, podName, new Date(Date.now() - 3_600_000));
      }
      const pods = await Promise.all(created.map((p) => cluster.getPod(namespace, p.metadata!.name!)));
      return { replicaSet: rs.metadata!.name!, selector, pods: pods.map((p) => p!) };
    },
    async statefulSet(namespace, name, o) {
      await apps.createNamespacedStatefulSet({
        namespace,
        body: {
          metadata: { name },
          spec: {
            serviceName: name,
            replicas: o.replicas,
            selector: { matchLabels: o.labels },
            template: podTemplate(o.labels),
          },
        },
      });
      return Promise.all(
        Array.from({ length: o.replicas }, (_, i) =>
          until(`Pod ${namespace}/${name}-${i} of the StatefulSet`, async () => {
            const p = await cluster.getPod(namespace, `${name}-${i}`);
            return p ?? undefined;
          }),
        ),
      );
    },
    runPod: (namespace, name) => runPod(namespace, name),
    async finishTermination(namespace, name, uid) {
      // what the kubelet does once the containers stopped: the final delete of exactly that instance. Both options
      // go in the body: with a body, the API server ignores DeleteOptions given as query parameters
      try {
        await core.deleteNamespacedPod({ namespace, name, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
      } catch (err) {
        if (httpCode(err) !== 404 && httpCode(err) !== 409) throw err;
      }
    },
    async listPods(namespace, selector) {
      const list = await core.listNamespacedPod({ namespace, labelSelector: selectorOf(selector) });
      return list.items.map(podInfo);
    },
    async deploymentAffinity(namespace, name) {
      const d = await apps.readNamespacedDeployment({ namespace, name });
      const terms =
        d.spec?.template.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
          ?.nodeSelectorTerms ?? [];
      return terms.flatMap((t) =>
        (t.matchExpressions ?? []).filter((e) => e.key === 'kubernetes.io/hostname').flatMap((e) => e.values ?? []),
      );
    },
    async events(namespace, involvedName) {
      const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${involvedName}` });
      return list.items.map((e) => ({
        type: e.type ?? '',
        reason: e.reason ?? '',
        message: e.message ?? '',
        involvedObject: {
          apiVersion: e.involvedObject.apiVersion,
          kind: e.involvedObject.kind ?? '',
          namespace: e.involvedObject.namespace,
          name: e.involvedObject.name ?? '',
          uid: e.involvedObject.uid,
        },
      }));
    },
  };
}

afterAll(async () => {
  // namespaces with pods bound to these nodes stay Terminating (no kubelet): the control plane goes with the run
  await Promise.allSettled(nodes.map((name) => core.deleteNode({ name })));
  await Promise.allSettled(namespaces.map((name) => core.deleteNamespace({ name })));
});

clusterContract('kube-apiserver', open);

describe('KubeCluster on kube-apiserver, beyond the contract', () => {
  it('getNode answers ready: false for a Node whose Ready condition is False', async () => {
    const node = await registerNode('not-ready', false);
    expect(await cluster.getNode(node)).toEqual({ name: node, ready: false });
  });

  it('a bound pod deleted without a kubelet stays terminating; deleting it again with its UID is a no-op', async () => {
    const namespace = await createNamespace('terminating');
    const node = await registerNode('terminating', true);
    const pod = await cluster.createPod(
      {
        namespace,
        name: 'app-0',
        nodeName: node,
        labels: { app: 'app' },
        containers: [fullContainer('app')],
        podSpec: {
          automountServiceAccountToken: false,
          volumes: [
            { name: 'data', emptyDir: {} },
            { name: 'config', configMap: { name: 'consumer-config' } },
          ],
        },
        ownerReferences: [],
      },
      'seed',
    );
    await cluster.deletePod(namespace, 'app-0', 'm1:delete-source', { uid: pod.uid });
    await cluster.deletePod(namespace, 'app-0', 'm1:delete-source', { uid: pod.uid });
    // a graceful delete of a bound pod waits for its kubelet: the harness's finishTermination plays that part
    expect(await cluster.getPod(namespace, 'app-0')).toMatchObject({ uid: pod.uid, deleting: true });
  });

  it('deletePod refuses to delete without a UID', async () => {
    await expect(cluster.deletePod('default', 'kubernetes', 'k', { uid: '' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });

  it('a pod the API rejects is INVALID_INPUT naming the field, with the API error as cause', async () => {
    const namespace = await createNamespace('invalid');
    const err = await cluster
      .createPod(
        {
          namespace,
          name: 'app-0',
          nodeName: 'n',
          labels: {},
          containers: [{ ...fullContainer('app'), ports: [{ containerPort: 700000 }] }],
          podSpec: {},
          ownerReferences: [],
        },
        'k',
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_INPUT', details: { upstreamStatus: 422, upstreamReason: 'Invalid' } });
    expect((err as Error).message).toContain('spec.containers[0].ports[0].containerPort');
    expect((err as Error).cause).toBeInstanceOf(ApiException);
  });

  it('RBAC: a user without rights gets FORBIDDEN naming the action; a terminating namespace is not an RBAC problem', async () => {
    const namespace = await createNamespace('forbidden');
    const userKc = new KubeConfig();
    userKc.loadFromFile(await makeUserKubeconfig(cp, 'no-rights', []));
    const nobody = new KubeCluster({ kubeConfig: userKc, logger: pino({ level: 'silent' }) });
    await expect(nobody.getPod(namespace, 'app-0')).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringContaining(`Get Pod ${namespace}/app-0 was forbidden`),
    });

    const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'keep' } } });
    // a finalizer keeps the namespace Terminating while the test creates in it
    await core.patchNamespacedConfigMap(
      { namespace, name: 'keep', body: { metadata: { finalizers: ['ms2m.io/test-hold'] } } },
      merge,
    );
    await core.deleteNamespace({ name: namespace });
    const err = await cluster
      .recordEvent(
        { apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'keep', uid: owner.metadata!.uid },
        'Normal',
        'Probe',
        'Probed',
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KUBERNETES_API', details: { upstreamCause: 'NamespaceTerminating' } });
    await core.patchNamespacedConfigMap({ namespace, name: 'keep', body: { metadata: { finalizers: null } } }, merge);
  });

  it('PatchAffinity: the second patch changes nothing (no second rollout)', async () => {
    const namespace = await createNamespace('affinity-gen');
    const node = await registerNode('affinity-gen', true);
    await open().deployment(namespace, 'web', { replicas: 1, labels: { app: 'web' }, node });
    await cluster.patchDeploymentNodeAffinity(namespace, 'web', node, 'm1:affinity');
    const first = await apps.readNamespacedDeployment({ namespace, name: 'web' });
    await cluster.patchDeploymentNodeAffinity(namespace, 'web', node, 'm1:affinity');
    const second = await apps.readNamespacedDeployment({ namespace, name: 'web' });
    // the controller keeps writing status (resourceVersion moves); the spec did not change
    expect(second.metadata?.generation).toBe(first.metadata?.generation);
  });
});
