/**
 * The StatefulSet part of the Kubernetes VolumeOps adapter (kubernetes.ts): the StatefulSet (read, orphaning
 * delete by uid, recreation from its saved manifest with new claim sizes), its pods and PodDisruptionBudgets, and
 * the objects a VolumeResize created (by label).
 */
import type { V1StatefulSet } from '@kubernetes/client-node';
import { isConflict, toKubernetesError } from '../kubernetes/api-errors.ts';
import { FIELD_MANAGER } from '../kubernetes/kubernetes.ts';
import type { KubeVolumeApi } from './kube-volume-api.ts';
import { claimInfo, pdbInfo, savedManifest, statefulSetInfo, volumePodInfo } from './mapping.ts';
import {
  type ClaimInfo,
  type PdbInfo,
  RESIZE_LABEL,
  type SavedStatefulSet,
  type StatefulSetInfo,
  type TemplateSize,
  type VolumePodInfo,
} from './port.ts';

/**
 * @example
 * ```ts
 * const statefulSets = new KubeStatefulSets(new KubeVolumeApi({ kubeConfig, logger }));
 * const sts = await statefulSets.getStatefulSet('default', 'db');
 * ```
 */
export class KubeStatefulSets {
  constructor(private readonly api: KubeVolumeApi) {}

  async getStatefulSet(namespace: string, name: string): Promise<StatefulSetInfo | null> {
    return this.api.read(`Get StatefulSet ${namespace}/${name}`, async () =>
      statefulSetInfo(await this.api.apps.readNamespacedStatefulSet({ namespace, name })),
    );
  }

  async listPodDisruptionBudgets(namespace: string): Promise<PdbInfo[]> {
    try {
      return (await this.api.policy.listNamespacedPodDisruptionBudget({ namespace })).items.map(pdbInfo);
    } catch (err) {
      throw toKubernetesError(err, `List PodDisruptionBudgets in ${namespace}`);
    }
  }

  async getPod(namespace: string, name: string): Promise<VolumePodInfo | null> {
    return this.api.read(`Get Pod ${namespace}/${name}`, async () =>
      volumePodInfo(await this.api.core.readNamespacedPod({ namespace, name })),
    );
  }

  async listResizeObjects(namespace: string, vrName: string): Promise<{ claims: ClaimInfo[]; pods: VolumePodInfo[] }> {
    const labelSelector = `${RESIZE_LABEL}=${vrName}`;
    try {
      const [claims, pods] = await Promise.all([
        this.api.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector }),
        this.api.core.listNamespacedPod({ namespace, labelSelector }),
      ]);
      return { claims: claims.items.map(claimInfo), pods: pods.items.map(volumePodInfo) };
    } catch (err) {
      throw toKubernetesError(err, `List the objects of VolumeResize ${namespace}/${vrName}`);
    }
  }

  async deleteStatefulSetOrphan(
    namespace: string,
    name: string,
    key: string,
    precondition: { uid: string },
  ): Promise<void> {
    await this.api.deleteWithUid(`StatefulSet ${namespace}/${name}`, key, precondition, () =>
      this.api.apps.deleteNamespacedStatefulSet({
        namespace,
        name,
        body: { propagationPolicy: 'Orphan', preconditions: precondition },
      }),
    );
  }

  async recreateStatefulSet(
    saved: SavedStatefulSet,
    sizes: Readonly<Record<string, TemplateSize>>,
    key: string,
  ): Promise<StatefulSetInfo> {
    const body = withTemplateSizes(saved, sizes);
    const namespace = body.metadata?.namespace ?? '';
    const name = body.metadata?.name ?? '';
    try {
      const created = await this.api.apps.createNamespacedStatefulSet({ namespace, body, fieldManager: FIELD_MANAGER });
      this.api.log.info({ statefulSet: `${namespace}/${name}`, sizes, key }, `Recreated StatefulSet ${name}`);
      return statefulSetInfo(created);
    } catch (err) {
      if (isConflict(err)) {
        const now = await this.getStatefulSet(namespace, name);
        if (now) return now;
      }
      throw toKubernetesError(err, `Create StatefulSet ${namespace}/${name}`);
    }
  }

  async deletePod(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void> {
    await this.api.deleteWithUid(`Pod ${namespace}/${name}`, key, precondition, () =>
      this.api.core.deleteNamespacedPod({ namespace, name, body: { preconditions: precondition } }),
    );
  }
}

/** The saved StatefulSet, server fields stripped again, with the new size (and class) in the named templates. */
export function withTemplateSizes(
  saved: SavedStatefulSet,
  sizes: Readonly<Record<string, TemplateSize>>,
): V1StatefulSet {
  const body = savedManifest(JSON.parse(JSON.stringify(saved)) as V1StatefulSet) as V1StatefulSet;
  for (const t of body.spec?.volumeClaimTemplates ?? []) {
    const s = sizes[t.metadata?.name ?? ''];
    if (!s) continue;
    t.spec = {
      ...t.spec,
      resources: { ...t.spec?.resources, requests: { ...t.spec?.resources?.requests, storage: s.size } },
      ...(s.storageClassName !== undefined ? { storageClassName: s.storageClassName } : {}),
    };
  }
  return body;
}
