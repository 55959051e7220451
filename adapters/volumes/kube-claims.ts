/**
 * The claims, PersistentVolumes and StorageClasses part of the Kubernetes VolumeOps adapter (kubernetes.ts):
 * reads, idempotent claim creation (a WaitForFirstConsumer claim made to bind without a consumer pod: the
 * selected-node annotation, or pre-bound to a fitting Available PV of a static class), claim deletion by uid, and
 * the two PV patches a resize needs (reclaim policy, claimRef).
 */
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { quantityBytes } from '../../machines/quantity.ts';
import { ErrorCode, InvalidInputError, NotFoundError } from '../errors.ts';
import { isConflict, isNotFound, toKubernetesError } from '../kubernetes/api-errors.ts';
import { eventTimeMs, FIELD_MANAGER } from '../kubernetes/kubernetes.ts';
import { type KubeVolumeApi, merge } from './kube-volume-api.ts';
import { claimInfo, storageClassInfo, volumeInfo } from './mapping.ts';
import {
  type ClaimInfo,
  type NewClaim,
  NO_PROVISIONER,
  type ReclaimPolicy,
  type StorageClassInfo,
  type VolumeInfo,
} from './port.ts';

/** Set on a claim by the scheduler (or by us, for a claim no pod uses yet) for WaitForFirstConsumer classes. */
export const SELECTED_NODE = 'volume.kubernetes.io/selected-node';

/**
 * @example
 * ```ts
 * const claims = new KubeClaims(new KubeVolumeApi({ kubeConfig, logger }));
 * const claim = await claims.createClaim({ namespace, name, size: '2Gi', accessModes: ['ReadWriteOnce'], labels }, key);
 * ```
 */
export class KubeClaims {
  constructor(private readonly api: KubeVolumeApi) {}

  async getClaim(namespace: string, name: string): Promise<ClaimInfo | null> {
    return this.api.read(`Get PersistentVolumeClaim ${namespace}/${name}`, async () =>
      claimInfo(await this.api.core.readNamespacedPersistentVolumeClaim({ namespace, name })),
    );
  }

  async provisioningFailure(namespace: string, name: string, uid: string): Promise<string | null> {
    const action = `List Events of PersistentVolumeClaim ${namespace}/${name}`;
    try {
      const events = await this.api.core.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.uid=${uid},reason=ProvisioningFailed`,
      });
      const latest = events.items.sort((a, b) => eventTimeMs(b) - eventTimeMs(a))[0];
      return latest ? (latest.message ?? 'ProvisioningFailed (no message)') : null;
    } catch (err) {
      const e = toKubernetesError(err, action);
      // a role without `list events` must not fail a resize: the claim is waited for as before (phase deadline)
      if (e.code === ErrorCode.FORBIDDEN) {
        this.api.log.warn({ claim: `${namespace}/${name}`, err: e.message }, 'Could not read the Events of a claim');
        return null;
      }
      throw e;
    }
  }

  async getVolume(name: string): Promise<VolumeInfo | null> {
    return this.api.read(`Get PersistentVolume ${name}`, async () =>
      volumeInfo(await this.api.core.readPersistentVolume({ name })),
    );
  }

  async getStorageClass(name: string | null): Promise<StorageClassInfo | null> {
    if (name !== null)
      return this.api.read(`Get StorageClass ${name}`, async () =>
        storageClassInfo(await this.api.storage.readStorageClass({ name })),
      );
    try {
      const all = (await this.api.storage.listStorageClass()).items.map(storageClassInfo);
      return all.find((c) => c.isDefault) ?? null;
    } catch (err) {
      throw toKubernetesError(err, 'List StorageClasses');
    }
  }

  async listAvailableVolumes(storageClass: string): Promise<VolumeInfo[]> {
    try {
      return (await this.api.core.listPersistentVolume()).items
        .map(volumeInfo)
        .filter((v) => v.storageClassName === storageClass && v.phase === 'Available' && !v.claimRef);
    } catch (err) {
      throw toKubernetesError(err, 'List PersistentVolumes');
    }
  }

  async createClaim(claim: NewClaim, key: string): Promise<ClaimInfo> {
    const what = `PersistentVolumeClaim ${claim.namespace}/${claim.name}`;
    const existing = await this.getClaim(claim.namespace, claim.name);
    if (existing) return existing;
    const annotations: Record<string, string> = { ...(claim.annotations ?? {}) };
    let volumeName = claim.volumeName;
    if (claim.nodeName && !volumeName) {
      const sc = await this.getStorageClass(claim.storageClassName ?? null);
      if (sc?.volumeBindingMode === 'WaitForFirstConsumer') {
        if (sc.provisioner === NO_PROVISIONER) volumeName = await this.fittingVolume(sc.name, claim, what);
        else annotations[SELECTED_NODE] = claim.nodeName;
      }
    }
    const body: V1PersistentVolumeClaim = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: claim.name,
        namespace: claim.namespace,
        labels: { ...claim.labels },
        ...(Object.keys(annotations).length ? { annotations } : {}),
      },
      spec: {
        accessModes: [...claim.accessModes],
        resources: { requests: { storage: claim.size } },
        ...(claim.storageClassName !== undefined ? { storageClassName: claim.storageClassName } : {}),
        ...(volumeName ? { volumeName } : {}),
      },
    };
    try {
      const created = await this.api.core.createNamespacedPersistentVolumeClaim({
        namespace: claim.namespace,
        body,
        fieldManager: FIELD_MANAGER,
      });
      this.api.log.info({ claim: `${claim.namespace}/${claim.name}`, volumeName, key }, `Created ${what}`);
      return claimInfo(created);
    } catch (err) {
      if (isConflict(err)) {
        const now = await this.getClaim(claim.namespace, claim.name);
        if (now) return now;
      }
      throw toKubernetesError(err, `Create ${what}`);
    }
  }

  /** The smallest Available PV of a static class reachable from the claim's node that holds the claim's size. */
  private async fittingVolume(storageClass: string, claim: NewClaim, what: string): Promise<string> {
    const want = quantityBytes(claim.size);
    if (want === null) throw new InvalidInputError(what, `size "${claim.size}" is not a quantity`);
    const fits = (await this.listAvailableVolumes(storageClass))
      .filter((v) => v.nodes.length === 0 || v.nodes.includes(claim.nodeName as string))
      .map((v) => ({ v, bytes: quantityBytes(v.capacity) ?? -1 }))
      .filter((x) => x.bytes >= want)
      .sort((a, b) => a.bytes - b.bytes);
    const best = fits[0];
    if (!best)
      throw new NotFoundError(
        'Available PersistentVolume',
        `of StorageClass ${storageClass} on node ${claim.nodeName} with at least ${claim.size}`,
        `create one (the class has no provisioner) for ${what}`,
      );
    return best.v.name;
  }

  async deleteClaim(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void> {
    await this.api.deleteWithUid(`PersistentVolumeClaim ${namespace}/${name}`, key, precondition, () =>
      this.api.core.deleteNamespacedPersistentVolumeClaim({ namespace, name, body: { preconditions: precondition } }),
    );
  }

  async setReclaimPolicy(
    pvName: string,
    policy: ReclaimPolicy,
    annotations: Record<string, string>,
    key: string,
  ): Promise<VolumeInfo> {
    try {
      const pv = await this.api.core.patchPersistentVolume(
        {
          name: pvName,
          body: { metadata: { annotations }, spec: { persistentVolumeReclaimPolicy: policy } },
          fieldManager: FIELD_MANAGER,
        },
        merge,
      );
      this.api.log.info({ pv: pvName, policy, key }, `Set reclaim policy of PersistentVolume ${pvName} to ${policy}`);
      return volumeInfo(pv);
    } catch (err) {
      if (isNotFound(err))
        throw new NotFoundError('PersistentVolume', pvName, 'it was deleted: the data it held is not reachable here');
      throw toKubernetesError(err, `Patch PersistentVolume ${pvName}`);
    }
  }

  async clearClaimRef(pvName: string, key: string, allowBoundTo?: { namespace: string; name: string }): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const pv = await this.api.read(`Get PersistentVolume ${pvName}`, () =>
        this.api.core.readPersistentVolume({ name: pvName }),
      );
      if (!pv) throw new NotFoundError('PersistentVolume', pvName, 'it was deleted before its claimRef was cleared');
      const ref = pv.spec?.claimRef;
      if (!ref) return;
      if (allowBoundTo && ref.namespace === allowBoundTo.namespace && ref.name === allowBoundTo.name) return;
      try {
        // the resourceVersion makes it a compare-and-set: a PV rebound meanwhile is read again
        await this.api.core.patchPersistentVolume(
          {
            name: pvName,
            body: { metadata: { resourceVersion: pv.metadata?.resourceVersion }, spec: { claimRef: null } },
            fieldManager: FIELD_MANAGER,
          },
          merge,
        );
        this.api.log.info({ pv: pvName, was: `${ref.namespace}/${ref.name}`, key }, `Cleared claimRef of ${pvName}`);
        return;
      } catch (err) {
        if (isConflict(err) && attempt < 5) continue;
        throw toKubernetesError(err, `Clear claimRef of PersistentVolume ${pvName}`);
      }
    }
  }
}
