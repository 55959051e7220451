/**
 * The VolumeOps port on a real API server (@kubernetes/client-node ~1.4), in three parts that share the API
 * clients (kube-volume-api.ts): claims, PVs and StorageClasses (kube-claims.ts), the StatefulSet and its pods
 * (kube-statefulset.ts), and the probe and migrator pods (kube-migrator.ts). Writes are idempotent (creating what
 * exists returns it, deleting what is gone is a no-op) and deletes carry the uid the caller inspected. Errors are
 * typed (adapters/errors.ts, api-errors.ts).
 *
 * @example
 * ```ts
 * const volumes = new KubeVolumes({ kubeConfig: loadKubeConfig({ file: process.env.KUBECONFIG }), logger });
 * const sts = await volumes.getStatefulSet('default', 'db');
 * ```
 */
import { KubeClaims } from './kube-claims.ts';
import { KubeMigrator } from './kube-migrator.ts';
import { KubeStatefulSets } from './kube-statefulset.ts';
import { KubeVolumeApi, type KubeVolumesOptions } from './kube-volume-api.ts';
import type {
  ClaimInfo,
  MigratorProgress,
  MigratorRequest,
  MigratorResult,
  NewClaim,
  PdbInfo,
  ProbeRequest,
  ReclaimPolicy,
  SavedStatefulSet,
  StatefulSetInfo,
  StorageClassInfo,
  TemplateSize,
  VolumeInfo,
  VolumeOps,
  VolumePodInfo,
  VolumeUsage,
} from './port.ts';

export class KubeVolumes implements VolumeOps {
  private readonly claims: KubeClaims;
  private readonly statefulSets: KubeStatefulSets;
  private readonly migrator: KubeMigrator;

  constructor(o: KubeVolumesOptions) {
    const api = new KubeVolumeApi(o);
    this.claims = new KubeClaims(api);
    this.statefulSets = new KubeStatefulSets(api);
    this.migrator = new KubeMigrator(api, this.statefulSets);
  }

  // ---- reads ----

  getStatefulSet(namespace: string, name: string): Promise<StatefulSetInfo | null> {
    return this.statefulSets.getStatefulSet(namespace, name);
  }

  getClaim(namespace: string, name: string): Promise<ClaimInfo | null> {
    return this.claims.getClaim(namespace, name);
  }

  provisioningFailure(namespace: string, name: string, uid: string): Promise<string | null> {
    return this.claims.provisioningFailure(namespace, name, uid);
  }

  getVolume(name: string): Promise<VolumeInfo | null> {
    return this.claims.getVolume(name);
  }

  getStorageClass(name: string | null): Promise<StorageClassInfo | null> {
    return this.claims.getStorageClass(name);
  }

  listAvailableVolumes(storageClass: string): Promise<VolumeInfo[]> {
    return this.claims.listAvailableVolumes(storageClass);
  }

  listPodDisruptionBudgets(namespace: string): Promise<PdbInfo[]> {
    return this.statefulSets.listPodDisruptionBudgets(namespace);
  }

  getPod(namespace: string, name: string): Promise<VolumePodInfo | null> {
    return this.statefulSets.getPod(namespace, name);
  }

  listResizeObjects(namespace: string, vrName: string): Promise<{ claims: ClaimInfo[]; pods: VolumePodInfo[] }> {
    return this.statefulSets.listResizeObjects(namespace, vrName);
  }

  // ---- measuring ----

  measureUsage(req: ProbeRequest, signal: AbortSignal): Promise<VolumeUsage> {
    return this.migrator.measureUsage(req, signal);
  }

  // ---- claims and volumes ----

  createClaim(claim: NewClaim, key: string): Promise<ClaimInfo> {
    return this.claims.createClaim(claim, key);
  }

  deleteClaim(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void> {
    return this.claims.deleteClaim(namespace, name, key, precondition);
  }

  setReclaimPolicy(
    pvName: string,
    policy: ReclaimPolicy,
    annotations: Record<string, string>,
    key: string,
  ): Promise<VolumeInfo> {
    return this.claims.setReclaimPolicy(pvName, policy, annotations, key);
  }

  clearClaimRef(pvName: string, key: string, allowBoundTo?: { namespace: string; name: string }): Promise<void> {
    return this.claims.clearClaimRef(pvName, key, allowBoundTo);
  }

  // ---- the StatefulSet and its pods ----

  deleteStatefulSetOrphan(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void> {
    return this.statefulSets.deleteStatefulSetOrphan(namespace, name, key, precondition);
  }

  recreateStatefulSet(
    saved: SavedStatefulSet,
    sizes: Readonly<Record<string, TemplateSize>>,
    key: string,
  ): Promise<StatefulSetInfo> {
    return this.statefulSets.recreateStatefulSet(saved, sizes, key);
  }

  deletePod(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void> {
    return this.statefulSets.deletePod(namespace, name, key, precondition);
  }

  // ---- copying ----

  runMigrator(
    req: MigratorRequest,
    onProgress: (p: MigratorProgress) => void,
    signal: AbortSignal,
  ): Promise<MigratorResult> {
    return this.migrator.runMigrator(req, onProgress, signal);
  }
}
