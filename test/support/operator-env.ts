/**
 * Installs what the operator needs on a test control plane, from the repository's own manifests: the CRD and its
 * admission policy (generated into crds/), the RBAC of crds/rbac.yaml, plus a client-certificate user bound to
 * exactly those roles, so the operator under test runs with the permissions a real install grants it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
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
