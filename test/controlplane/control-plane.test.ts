/**
 * The tier's own control plane (global-setup.ts) is a working Kubernetes: the API server reports the pinned
 * version, kube-controller-manager creates ReplicaSets and Pods, kube-scheduler binds them to a node, RBAC
 * is enforced for client-certificate users. No kubelet: pods never run.
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1Pod,
  VersionApi,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeUserKubeconfig } from '../harness/control-plane.ts';
import { eventually } from '../support/eventually.ts';

const cp = inject('controlPlane');
const kc = new KubeConfig();
kc.loadFromFile(cp.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);

const namespace = `cp-test-${Date.now().toString(36)}`;
const labels = (app: string) => ({ app });
const container = { name: 'c', image: 'registry.invalid/never-pulled:1' };
/** Matches no node: these pods stay unscheduled even when other suites register (simulated) nodes. */
const unplaced = { nodeSelector: { 'ms2m.io/control-plane-test': 'no-such-node' }, containers: [container] };

async function podsOf(app: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items;
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  // pods are admitted only once the namespace's default ServiceAccount exists
  await eventually('ServiceAccount default', () => core.readNamespacedServiceAccount({ name: 'default', namespace }));
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

describe('control plane', () => {
  it('API server reports the pinned Kubernetes version', async () => {
    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe('v1.37.2');
    expect(version.major).toBe('1');
    expect(version.minor).toBe('37');
    expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('kube-controller-manager creates the ReplicaSet and both Pods of a 2-replica Deployment', async () => {
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels('web') },
          template: { metadata: { labels: labels('web') }, spec: unplaced },
        },
      },
    });
    const rs = await eventually('ReplicaSet of web', async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace, labelSelector: 'app=web' });
      return list.items[0];
    });
    expect(rs.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'web' });
    const pods = await eventually('2 pods of web', async () => {
      const items = await podsOf('web');
      return items.length === 2 ? items : undefined;
    });
    for (const pod of pods) {
      expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', name: rs.metadata?.name });
      // no node fits them, and no kubelet would run them
      expect(pod.status?.phase).toBe('Pending');
      expect(pod.spec?.nodeName).toBeUndefined();
    }
  });

  it('kube-controller-manager creates pod -0 of a StatefulSet', async () => {
    await apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'db' },
        spec: {
          serviceName: 'db',
          replicas: 1,
          selector: { matchLabels: labels('db') },
          template: { metadata: { labels: labels('db') }, spec: unplaced },
        },
      },
    });
    const pod = await eventually('pod db-0', () => core.readNamespacedPod({ name: 'db-0', namespace }));
    expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'StatefulSet', name: 'db' });
  });

  it('kube-scheduler binds pods to a registered Node', async () => {
    const node = `fake-node-${namespace}`;
    // other suites share this control plane: the taint keeps their pods off this node
    const taint = { key: 'ms2m.io/control-plane-test', value: namespace, effect: 'NoSchedule' };
    await core.createNode({
      body: {
        metadata: { name: node, labels: { 'kubernetes.io/hostname': node } },
        spec: { taints: [taint] },
        status: {
          capacity: { cpu: '4', memory: '8Gi', pods: '110' },
          allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'fake node: no kubelet',
              lastHeartbeatTime: new Date(),
              lastTransitionTime: new Date(),
            },
          ],
        },
      },
    });
    try {
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: 'placed' },
          spec: {
            replicas: 2,
            selector: { matchLabels: labels('placed') },
            template: {
              metadata: { labels: labels('placed') },
              spec: {
                nodeSelector: { 'kubernetes.io/hostname': node },
                tolerations: [{ ...taint, operator: 'Equal' }],
                containers: [container],
              },
            },
          },
        },
      });
      const bound = await eventually('2 pods of placed bound', async () => {
        const items = (await podsOf('placed')).filter((p) => p.spec?.nodeName);
        return items.length === 2 ? items : undefined;
      });
      expect(bound.map((p) => p.spec?.nodeName)).toEqual([node, node]);
    } finally {
      await core.deleteNode({ name: node });
    }
  });

  it('RBAC: a user with no binding is forbidden to list pods and allowed after a RoleBinding', async () => {
    const aliceKc = new KubeConfig();
    aliceKc.loadFromFile(await makeUserKubeconfig(cp, 'alice', []));
    const alice = aliceKc.makeApiClient(CoreV1Api);

    const denied = await alice.listNamespacedPod({ namespace }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(denied).toBeInstanceOf(ApiException);
    expect((denied as ApiException<unknown>).code).toBe(403);
    const status = JSON.parse(String((denied as ApiException<unknown>).body)) as { reason?: string; message?: string };
    expect(status.reason).toBe('Forbidden');
    expect(status.message).toContain('User "alice" cannot list resource "pods"');

    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'pod-reader' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'alice-reads-pods' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
      },
    });
    const list = await eventually('alice may list pods', () => alice.listNamespacedPod({ namespace }), 10_000);
    const asAdmin = await core.listNamespacedPod({ namespace });
    expect(list.items.map((p) => p.metadata?.name).sort()).toEqual(asAdmin.items.map((p) => p.metadata?.name).sort());
    // the binding is namespaced: other namespaces stay forbidden
    await expect(alice.listNamespacedPod({ namespace: 'kube-system' })).rejects.toMatchObject({ code: 403 });
  });
});
