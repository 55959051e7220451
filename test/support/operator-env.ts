/**
 * Installs what the operator needs on a test control plane, from the repository's own manifests: the CRD and its
 * admission policy (generated into crds/), the RBAC of crds/rbac.yaml, plus a client-certificate user bound to
 * exactly those roles, so the operator under test runs with the permissions a real install grants it.
 * `startOperatorNamespace` adds what a test file's operator works in: its namespace, the simulated nodes
 * node-a and node-b, and a private temp dir.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadAllYaml,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { loadKubeConfig } from '../../adapters/kubernetes/keep-alive-kubeconfig.ts';
import type { ControlPlaneInfo } from '../harness/control-plane.ts';
import { makeUserKubeconfig } from '../harness/control-plane.ts';
import { eventually } from './eventually.ts';
import { NodeSimulator } from './node-simulator.ts';

const root = join(import.meta.dirname, '../..');
export const OPERATOR_USER = 'ms2m-operator-under-test';

const docs = (file: string) => loadAllYaml(readFileSync(join(root, 'crds', file), 'utf8')) as KubernetesObject[];

/** Creates each object, leaving an existing one as it is (installs are shared by the tier's test files). */
export async function applyAll(kc: KubeConfig, objects: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    try {
      await api.create(obj);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
}

/**
 * @example
 * ```ts
 * const { admin, operator } = await installOperatorPrerequisites(inject('controlPlane'));
 * ```
 */
export async function installOperatorPrerequisites(
  cp: ControlPlaneInfo,
): Promise<{ admin: KubeConfig; operator: KubeConfig; operatorKubeconfigPath: string }> {
  const admin = new KubeConfig();
  admin.loadFromFile(cp.kubeconfigPath);
  await applyAll(admin, docs('statefulmigration.crd.yaml'));
  const ext = admin.makeApiClient(ApiextensionsV1Api);
  await eventually('CRD statefulmigrations.migration.ms2m.io Established', async () => {
    const crd = await ext.readCustomResourceDefinition({ name: 'statefulmigrations.migration.ms2m.io' });
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
  await applyAll(admin, docs('statefulmigration.policy.yaml'));
  // the operator process also runs VolumeResizes: their CRD and policy, as on a cluster
  await applyAll(admin, docs('volumeresize.crd.yaml'));
  await applyAll(admin, docs('volumeresize.policy.yaml'));
  await applyAll(admin, docs('rbac.yaml'));
  // the same roles the ServiceAccount gets, bound to a client-certificate user the test can act as
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const subject = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: OPERATOR_USER }];
  for (const role of ['ms2m-operator', 'ms2m-operator-nodes']) {
    try {
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: `${role}-under-test` },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
          subjects: subject,
        },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
  try {
    await rbac.createNamespacedRoleBinding({
      namespace: 'ms2m-system',
      body: {
        metadata: { name: 'ms2m-operator-leader-under-test' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ms2m-operator-leader' },
        subjects: subject,
      },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  const operatorKubeconfigPath = await makeUserKubeconfig(cp, OPERATOR_USER, []);
  const operator = loadKubeConfig({ file: operatorKubeconfigPath });
  return { admin, operator, operatorKubeconfigPath };
}

/** What a test file's operator works in; stop() takes it down (nodes, namespace, temp dir). */
export interface OperatorNamespace {
  admin: KubeConfig;
  /** The operator's own user, bound to the roles of crds/rbac.yaml only, and its kubeconfig file. */
  operatorKc: KubeConfig;
  operatorKubeconfigPath: string;
  /** The admin's CoreV1Api. */
  core: CoreV1Api;
  namespace: string;
  nodes: NodeSimulator;
  /** A private temp dir (removed by stop()). */
  dir: string;
  stop(): Promise<void>;
}

/**
 * Installs the prerequisites, creates `namespace` (and waits for its default ServiceAccount, which pods need),
 * plays node-a and node-b (NodeSimulator) and makes a temp dir named after `tmpPrefix`. When a step fails, what
 * was already started is taken down before the error is thrown.
 *
 * @example
 * ```ts
 * const env = await startOperatorNamespace(inject('controlPlane'), { namespace: 'op-x1', tmpPrefix: 'ms2m-op-' });
 * await env.core.createNamespacedPod({ namespace: env.namespace, body });
 * await env.stop();
 * ```
 */
export async function startOperatorNamespace(
  cp: ControlPlaneInfo,
  o: { namespace: string; tmpPrefix: string },
): Promise<OperatorNamespace> {
  const { admin, operator: operatorKc, operatorKubeconfigPath } = await installOperatorPrerequisites(cp);
  const core = admin.makeApiClient(CoreV1Api);
  const { namespace } = o;
  let nodes: NodeSimulator | undefined;
  let dir: string | undefined;
  const stop = async () => {
    await nodes?.stop();
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await eventually('ServiceAccount default', () => core.readNamespacedServiceAccount({ name: 'default', namespace }));
    nodes = new NodeSimulator({ kubeConfig: admin, nodes: ['node-a', 'node-b'] });
    await nodes.start();
    dir = mkdtempSync(join(tmpdir(), o.tmpPrefix));
  } catch (err) {
    await stop();
    throw err;
  }
  return { admin, operatorKc, operatorKubeconfigPath, core, namespace, nodes, dir, stop };
}
