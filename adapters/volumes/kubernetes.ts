/**
 * The VolumeOps port on a real API server (@kubernetes/client-node ~1.4). Writes are idempotent (creating what
 * exists returns it, deleting what is gone is a no-op) and deletes carry the uid the caller inspected. The probe
 * and the migrator are pods of the ms2m/migrator image (volume-pods.ts), their output read from their logs
 * (migrator-log.ts). Errors are typed (adapters/errors.ts, api-errors.ts).
 *
 * @example
 * ```ts
 * const volumes = new KubeVolumes({ kubeConfig: loadKubeConfig({ file: process.env.KUBECONFIG }), logger });
 * const sts = await volumes.getStatefulSet('default', 'db');
 * ```
 */
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  StorageV1Api,
  setHeaderOptions,
  type V1PersistentVolumeClaim,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { quantityBytes } from '../../machines/quantity.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import { isConflict, isNotFound, toKubernetesError } from '../kubernetes/api-errors.ts';
import {
  claimInfo,
  pdbInfo,
  savedManifest,
  statefulSetInfo,
  storageClassInfo,
  volumeInfo,
  volumePodInfo,
} from './mapping.ts';
import { MigratorLog, parseUsage } from './migrator-log.ts';
import {
  ChecksumMismatchError,
  type ClaimInfo,
  MigratorFailedError,
  type MigratorProgress,
  type MigratorRequest,
  type MigratorResult,
  type NewClaim,
  NO_PROVISIONER,
  type PdbInfo,
  ProbeFailedError,
  type ProbeRequest,
  RESIZE_LABEL,
  type ReclaimPolicy,
  type SavedStatefulSet,
  type StatefulSetInfo,
  type StorageClassInfo,
  type TemplateSize,
  type VolumeInfo,
  type VolumeOps,
  type VolumePodInfo,
  type VolumeUsage,
} from './port.ts';
import { migratorPod, probePod, runPod, tail } from './volume-pods.ts';

export const FIELD_MANAGER = 'ms2m-operator';
/** Set on a claim by the scheduler (or by us, for a claim no pod uses yet) for WaitForFirstConsumer classes. */
export const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface KubeVolumesOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
}

export class KubeVolumes implements VolumeOps {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly storage: StorageV1Api;
  private readonly policy: PolicyV1Api;
  private readonly log: Logger;

  constructor(o: KubeVolumesOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = o.kubeConfig.makeApiClient(AppsV1Api);
    this.storage = o.kubeConfig.makeApiClient(StorageV1Api);
    this.policy = o.kubeConfig.makeApiClient(PolicyV1Api);
    this.log = o.logger;
  }

  // ---- reads ----

  async getStatefulSet(namespace: string, name: string): Promise<StatefulSetInfo | null> {
    return this.read(`Get StatefulSet ${namespace}/${name}`, async () =>
      statefulSetInfo(await this.apps.readNamespacedStatefulSet({ namespace, name })),
    );
  }

  async getClaim(namespace: string, name: string): Promise<ClaimInfo | null> {
    return this.read(`Get PersistentVolumeClaim ${namespace}/${name}`, async () =>
      claimInfo(await this.core.readNamespacedPersistentVolumeClaim({ namespace, name })),
    );
  }

  async getVolume(name: string): Promise<VolumeInfo | null> {
    return this.read(`Get PersistentVolume ${name}`, async () =>
      volumeInfo(await this.core.readPersistentVolume({ name })),
    );
  }

  async getStorageClass(name: string | null): Promise<StorageClassInfo | null> {
    if (name !== null)
      return this.read(`Get StorageClass ${name}`, async () =>
        storageClassInfo(await this.storage.readStorageClass({ name })),
      );
    try {
      const all = (await this.storage.listStorageClass()).items.map(storageClassInfo);
      return all.find((c) => c.isDefault) ?? null;
    } catch (err) {
      throw toKubernetesError(err, 'List StorageClasses');
    }
  }

  async listAvailableVolumes(storageClass: string): Promise<VolumeInfo[]> {
    try {
      return (await this.core.listPersistentVolume()).items
        .map(volumeInfo)
        .filter((v) => v.storageClassName === storageClass && v.phase === 'Available' && !v.claimRef);
    } catch (err) {
      throw toKubernetesError(err, 'List PersistentVolumes');
    }
  }

  async listPodDisruptionBudgets(namespace: string): Promise<PdbInfo[]> {
    try {
      return (await this.policy.listNamespacedPodDisruptionBudget({ namespace })).items.map(pdbInfo);
    } catch (err) {
      throw toKubernetesError(err, `List PodDisruptionBudgets in ${namespace}`);
    }
  }

  async getPod(namespace: string, name: string): Promise<VolumePodInfo | null> {
    return this.read(`Get Pod ${namespace}/${name}`, async () =>
      volumePodInfo(await this.core.readNamespacedPod({ namespace, name })),
    );
  }

  async listResizeObjects(namespace: string, vrName: string): Promise<{ claims: ClaimInfo[]; pods: VolumePodInfo[] }> {
    const labelSelector = `${RESIZE_LABEL}=${vrName}`;
    try {
      const [claims, pods] = await Promise.all([
        this.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector }),
        this.core.listNamespacedPod({ namespace, labelSelector }),
      ]);
      return { claims: claims.items.map(claimInfo), pods: pods.items.map(volumePodInfo) };
    } catch (err) {
      throw toKubernetesError(err, `List the objects of VolumeResize ${namespace}/${vrName}`);
    }
  }

  // ---- measuring ----

  async measureUsage(req: ProbeRequest, signal: AbortSignal): Promise<VolumeUsage> {
    const pod = `${req.namespace}/${req.podName}`;
    const end = await runPod(this.core, probePod(req), { timeoutMs: req.timeoutMs, signal });
    try {
      if (end.kind === 'gone')
        throw new ProbeFailedError(pod, req.claimName, 'the pod was deleted before it ended', { transient: true });
      if (end.kind === 'stuck')
        throw new ProbeFailedError(pod, req.claimName, `its container cannot start: ${end.reason}`);
      if (end.kind === 'timeout')
        throw new ProbeFailedError(pod, req.claimName, `it did not end within ${req.timeoutMs} ms (${end.reason})`, {
          transient: true,
        });
      if (end.phase === 'Failed')
        throw new ProbeFailedError(pod, req.claimName, `exit code ${end.exitCode ?? '?'}: ${tail(end.log, 4)}`);
      const usage = parseUsage(end.log);
      if (!usage) throw new ProbeFailedError(pod, req.claimName, `no usage line in its log: ${tail(end.log, 4)}`);
      this.log.info({ pod, claim: req.claimName, ...usage, key: req.key }, `Measured claim ${req.claimName}`);
      return usage;
    } finally {
      const uid = end.kind === 'gone' ? undefined : end.pod?.metadata?.uid;
      if (uid) await this.deletePod(req.namespace, req.podName, req.key, { uid });
    }
  }

  // ---- claims and volumes ----

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
      const created = await this.core.createNamespacedPersistentVolumeClaim({
        namespace: claim.namespace,
        body,
        fieldManager: FIELD_MANAGER,
      });
      this.log.info({ claim: `${claim.namespace}/${claim.name}`, volumeName, key }, `Created ${what}`);
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
    await this.deleteWithUid(`PersistentVolumeClaim ${namespace}/${name}`, key, precondition, () =>
      this.core.deleteNamespacedPersistentVolumeClaim({ namespace, name, body: { preconditions: precondition } }),
    );
  }

  async setReclaimPolicy(
    pvName: string,
    policy: ReclaimPolicy,
    annotations: Record<string, string>,
    key: string,
  ): Promise<VolumeInfo> {
    try {
      const pv = await this.core.patchPersistentVolume(
        {
          name: pvName,
          body: { metadata: { annotations }, spec: { persistentVolumeReclaimPolicy: policy } },
          fieldManager: FIELD_MANAGER,
        },
        merge,
      );
      this.log.info({ pv: pvName, policy, key }, `Set reclaim policy of PersistentVolume ${pvName} to ${policy}`);
      return volumeInfo(pv);
    } catch (err) {
      if (isNotFound(err))
        throw new NotFoundError('PersistentVolume', pvName, 'it was deleted: the data it held is not reachable here');
      throw toKubernetesError(err, `Patch PersistentVolume ${pvName}`);
    }
  }

  async clearClaimRef(pvName: string, key: string, allowBoundTo?: { namespace: string; name: string }): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const pv = await this.read(`Get PersistentVolume ${pvName}`, () =>
        this.core.readPersistentVolume({ name: pvName }),
      );
      if (!pv) throw new NotFoundError('PersistentVolume', pvName, 'it was deleted before its claimRef was cleared');
      const ref = pv.spec?.claimRef;
      if (!ref) return;
      if (allowBoundTo && ref.namespace === allowBoundTo.namespace && ref.name === allowBoundTo.name) return;
      try {
        // the resourceVersion makes it a compare-and-set: a PV rebound meanwhile is read again
        await this.core.patchPersistentVolume(
          {
            name: pvName,
            body: { metadata: { resourceVersion: pv.metadata?.resourceVersion }, spec: { claimRef: null } },
            fieldManager: FIELD_MANAGER,
          },
          merge,
        );
        this.log.info({ pv: pvName, was: `${ref.namespace}/${ref.name}`, key }, `Cleared claimRef of ${pvName}`);
        return;
      } catch (err) {
        if (isConflict(err) && attempt < 5) continue;
        throw toKubernetesError(err, `Clear claimRef of PersistentVolume ${pvName}`);
      }
    }
  }

  // ---- the StatefulSet and its pods ----

  async deleteStatefulSetOrphan(
    namespace: string,
    name: string,
    key: string,
    precondition: { uid: string },
  ): Promise<void> {
    await this.deleteWithUid(`StatefulSet ${namespace}/${name}`, key, precondition, () =>
      this.apps.deleteNamespacedStatefulSet({
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
      const created = await this.apps.createNamespacedStatefulSet({ namespace, body, fieldManager: FIELD_MANAGER });
      this.log.info({ statefulSet: `${namespace}/${name}`, sizes, key }, `Recreated StatefulSet ${name}`);
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
    await this.deleteWithUid(`Pod ${namespace}/${name}`, key, precondition, () =>
      this.core.deleteNamespacedPod({ namespace, name, body: { preconditions: precondition } }),
    );
  }

  // ---- copying ----

  async runMigrator(
    req: MigratorRequest,
    onProgress: (p: MigratorProgress) => void,
    signal: AbortSignal,
  ): Promise<MigratorResult> {
    const pod = `${req.namespace}/${req.podName}`;
    const log = new MigratorLog();
    const end = await runPod(this.core, migratorPod(req), {
      timeoutMs: req.timeoutMs,
      signal,
      onLine: (line) => {
        const p = log.push(line);
        if (p) onProgress(p);
      },
    });
    if (end.kind === 'gone')
      throw new MigratorFailedError(pod, 'the pod was deleted before it ended', '', { transient: true });
    if (end.kind === 'stuck') throw new MigratorFailedError(pod, `its container cannot start: ${end.reason}`, '');
    if (end.kind === 'timeout')
      throw new MigratorFailedError(pod, `it did not end within ${req.timeoutMs} ms (${end.reason})`, tail(end.log), {
        transient: true,
      });
    const result = log.result;
    if (end.phase === 'Failed' || !result?.ok) {
      if (result?.step === 'check')
        throw new ChecksumMismatchError(pod, log.differenceCount ?? log.differences.length, log.differences);
      const why = result?.message ?? `exit code ${end.exitCode ?? '?'}`;
      throw new MigratorFailedError(pod, `${result?.step ? `${result.step}: ` : ''}${why}`, tail(end.log));
    }
    const out: MigratorResult = {
      bytesTransferred: log.copied.bytes ?? 0,
      bytesTotal: result.bytes ?? log.copied.totalBytes ?? 0,
      files: result.entries ?? log.copied.totalTransfers ?? 0,
      verified: result.verified === true,
    };
    if (req.mode === 'sync' && !out.verified)
      throw new MigratorFailedError(pod, 'it ended without the checksum pass', tail(end.log));
    this.log.info({ pod, ...out, skipped: log.skipped, key: req.key }, `Migrator ${req.podName} done`);
    return out;
  }

  // ---- helpers ----

  private async read<T>(action: string, f: () => Promise<T>): Promise<T | null> {
    try {
      return await f();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toKubernetesError(err, action);
    }
  }

  private async deleteWithUid(
    what: string,
    key: string,
    precondition: { uid: string },
    f: () => Promise<unknown>,
  ): Promise<void> {
    // without a uid the delete would hit whichever object has the name now: never send one
    if (!precondition.uid) throw new InvalidInputError(`Delete ${what}`, 'no uid precondition given');
    try {
      await f();
      this.log.info({ object: what, uid: precondition.uid, key }, `Deleted ${what}`);
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) {
        this.log.info({ object: what, uid: precondition.uid, key }, `Skipped deleting ${what}: it has another uid`);
        return;
      }
      throw toKubernetesError(err, `Delete ${what}`);
    }
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
