/**
 * An in-memory cluster behind the VolumeOps port, for the unit and property tiers: the port's reads and writes
 * over FakeVolumeWorld (fake-volume-world.ts: StatefulSet controller, binding, reclaim, pvc-protection). Every
 * mutation runs under the fault plan and lands in the effect journal; the probe and migrator pods measure and
 * copy the data.
 */
import {
  ChecksumMismatchError,
  type ClaimInfo,
  MigratorFailedError,
  type MigratorProgress,
  type MigratorRequest,
  type MigratorResult,
  type NewClaim,
  type PdbInfo,
  type ProbeRequest,
  type ReclaimPolicy,
  type SavedStatefulSet,
  type StatefulSetInfo,
  type StorageClassInfo,
  type TemplateSize,
  type VolumeInfo,
  type VolumeOps,
  type VolumePodInfo,
  type VolumeUsage,
} from '../../adapters/volumes/port.ts';
import { quantityBytes } from '../../machines/quantity.ts';
import { FakeVolumeWorld, key } from './fake-volume-world.ts';

export type { ClaimRemoval, FakeData, FakeVolumesOptions } from './fake-volume-world.ts';

export class FakeVolumes extends FakeVolumeWorld implements VolumeOps {
  // ---- reads ----
  async getStatefulSet(namespace: string, name: string): Promise<StatefulSetInfo | null> {
    this.reconcile();
    const s = this.statefulSets.get(key(namespace, name));
    if (!s) return null;
    const pods = [...this.pods.values()].filter((p) => p.namespace === namespace && p.labels.app === s.podLabels.app);
    const ready = pods.filter((p) => p.ready && p.name.startsWith(`${name}-`)).length;
    return {
      namespace,
      name,
      uid: s.uid,
      replicas: s.replicas,
      readyReplicas: ready,
      updatedReplicas: ready,
      podLabels: { ...s.podLabels },
      claimTemplates: s.templates.map((t) => ({
        name: t.name,
        request: t.request,
        storageClassName: t.storageClassName,
        accessModes: ['ReadWriteOnce'],
        labels: { app: name },
      })),
      deleting: false,
      manifest: {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { namespace, name, uid: s.uid },
        spec: {
          replicas: s.replicas,
          template: { metadata: { labels: { ...s.podLabels } } },
          volumeClaimTemplates: s.templates.map((t) => ({
            metadata: { name: t.name },
            spec: { storageClassName: t.storageClassName, resources: { requests: { storage: t.request } } },
          })),
        },
      },
    };
  }
  async getClaim(namespace: string, name: string): Promise<ClaimInfo | null> {
    this.reconcile();
    const c = this.claims.get(key(namespace, name));
    return c ? structuredClone(c) : null;
  }
  async getVolume(name: string): Promise<VolumeInfo | null> {
    this.reconcile();
    const pv = this.pvs.get(name);
    if (!pv) return null;
    const { data: _d, verifiedCopyOf: _v, ...info } = structuredClone(pv);
    return info;
  }
  async getStorageClass(name: string | null): Promise<StorageClassInfo | null> {
    const sc = name === null ? [...this.classes.values()].find((s) => s.isDefault) : this.classes.get(name);
    return sc ? { ...sc } : null;
  }
  async listAvailableVolumes(storageClass: string): Promise<VolumeInfo[]> {
    const out: VolumeInfo[] = [];
    for (const pv of this.pvs.values())
      if (pv.phase === 'Available' && pv.storageClassName === storageClass) out.push((await this.getVolume(pv.name))!);
    return out;
  }
  async listPodDisruptionBudgets(namespace: string): Promise<PdbInfo[]> {
    return this.pdbs.filter((p) => p.namespace === namespace).map((p) => structuredClone(p));
  }
  async getPod(namespace: string, name: string): Promise<VolumePodInfo | null> {
    this.reconcile();
    const p = this.pods.get(key(namespace, name));
    if (!p) return null;
    const { result: _r, ...info } = structuredClone(p);
    return info;
  }
  async listResizeObjects(namespace: string, vrName: string) {
    this.reconcile();
    const mine = (labels: Record<string, string>) => labels['storage.ms2m.io/volume-resize'] === vrName;
    return {
      claims: [...this.claims.values()]
        .filter((c) => c.namespace === namespace && mine(c.labels))
        .map((c) => structuredClone(c)),
      pods: [...this.pods.values()]
        .filter((p) => p.namespace === namespace && mine(p.labels))
        .map(({ result: _r, ...p }) => structuredClone(p)),
    };
  }

  // ---- writes ----
  async measureUsage(req: ProbeRequest, signal: AbortSignal): Promise<VolumeUsage> {
    return this.mutate('measureUsage', req.key, key(req.namespace, req.claimName), () => {
      if (signal.aborted) throw signal.reason;
      const c = this.claims.get(key(req.namespace, req.claimName));
      const data = c?.volumeName ? this.pvs.get(c.volumeName)?.data : null;
      return { applied: false, value: { usedBytes: data?.bytes ?? 0, usedInodes: data ? data.files + 1 : 1 } };
    });
  }
  async provisioningFailure(_namespace: string, _name: string, uid: string): Promise<string | null> {
    this.reconcile();
    return this.provisioningFailures.get(uid) ?? null;
  }
  async createClaim(claim: NewClaim, k: string): Promise<ClaimInfo> {
    return this.mutate('createClaim', k, key(claim.namespace, claim.name), () => {
      const existing = this.claims.get(key(claim.namespace, claim.name));
      if (existing) return { applied: false, value: structuredClone(existing) };
      const c = this.newClaim(claim);
      this.bind(c);
      return { applied: true, value: structuredClone(c) };
    });
  }
  async deleteClaim(namespace: string, name: string, k: string, precondition: { uid: string }): Promise<void> {
    await this.mutate('deleteClaim', k, key(namespace, name), () => {
      const c = this.claims.get(key(namespace, name));
      if (!c || c.uid !== precondition.uid || c.deleting) return { applied: false, value: undefined };
      c.deleting = true;
      if (!this.inUse(c)) this.removeClaim(c);
      return { applied: true, value: undefined };
    });
  }
  async setReclaimPolicy(
    pvName: string,
    policy: ReclaimPolicy,
    annotations: Record<string, string>,
    k: string,
  ): Promise<VolumeInfo> {
    await this.mutate('setReclaimPolicy', k, pvName, () => {
      const pv = this.pvs.get(pvName);
      if (!pv) throw new Error(`PersistentVolume ${pvName} not found`);
      const applied =
        pv.reclaimPolicy !== policy || Object.entries(annotations).some(([a, v]) => pv.annotations[a] !== v);
      pv.reclaimPolicy = policy;
      Object.assign(pv.annotations, annotations);
      return { applied, value: undefined };
    });
    return (await this.getVolume(pvName))!;
  }
  async clearClaimRef(pvName: string, k: string, allowBoundTo?: { namespace: string; name: string }): Promise<void> {
    await this.mutate('clearClaimRef', k, pvName, () => {
      const pv = this.pvs.get(pvName);
      if (!pv?.claimRef) return { applied: false, value: undefined };
      const ref = pv.claimRef;
      if (
        allowBoundTo &&
        ref.namespace === allowBoundTo.namespace &&
        ref.name === allowBoundTo.name &&
        this.claims.get(key(ref.namespace, ref.name))?.uid === ref.uid
      ) {
        return { applied: false, value: undefined };
      }
      if (this.claims.get(key(ref.namespace, ref.name))?.uid === ref.uid)
        throw new Error(`PersistentVolume ${pvName} is still bound to ${ref.name}`);
      pv.claimRef = undefined;
      pv.phase = 'Available';
      return { applied: true, value: undefined };
    });
    this.reconcile();
  }
  async deleteStatefulSetOrphan(
    namespace: string,
    name: string,
    k: string,
    precondition: { uid: string },
  ): Promise<void> {
    await this.mutate('deleteStatefulSetOrphan', k, key(namespace, name), () => {
      const s = this.statefulSets.get(key(namespace, name));
      if (!s || s.uid !== precondition.uid) return { applied: false, value: undefined };
      this.statefulSets.delete(key(namespace, name));
      return { applied: true, value: undefined };
    });
  }
  async recreateStatefulSet(
    saved: SavedStatefulSet,
    sizes: Readonly<Record<string, TemplateSize>>,
    k: string,
  ): Promise<StatefulSetInfo> {
    const meta = saved.metadata as { namespace: string; name: string };
    const spec = saved.spec as {
      replicas: number;
      template: { metadata: { labels: Record<string, string> } };
      volumeClaimTemplates: Array<{
        metadata: { name: string };
        spec: { storageClassName?: string; resources: { requests: { storage: string } } };
      }>;
    };
    await this.mutate('recreateStatefulSet', k, key(meta.namespace, meta.name), () => {
      if (this.statefulSets.has(key(meta.namespace, meta.name))) return { applied: false, value: undefined };
      this.statefulSets.set(key(meta.namespace, meta.name), {
        namespace: meta.namespace,
        name: meta.name,
        uid: this.uid('sts'),
        replicas: spec.replicas,
        podLabels: { ...spec.template.metadata.labels },
        templates: spec.volumeClaimTemplates.map((t) => ({
          name: t.metadata.name,
          request: sizes[t.metadata.name]?.size ?? t.spec.resources.requests.storage,
          storageClassName: sizes[t.metadata.name]?.storageClassName ?? t.spec.storageClassName,
        })),
      });
      return { applied: true, value: undefined };
    });
    return (await this.getStatefulSet(meta.namespace, meta.name))!;
  }
  async deletePod(namespace: string, name: string, k: string, precondition: { uid: string }): Promise<void> {
    await this.mutate('deletePod', k, key(namespace, name), () => {
      const p = this.pods.get(key(namespace, name));
      if (!p || p.uid !== precondition.uid) return { applied: false, value: undefined };
      this.pods.delete(key(namespace, name));
      return { applied: true, value: undefined };
    });
    this.reconcile();
  }

  async runMigrator(
    req: MigratorRequest,
    onProgress: (p: MigratorProgress) => void,
    signal: AbortSignal,
  ): Promise<MigratorResult> {
    const podKey = key(req.namespace, req.podName);
    const existing = this.pods.get(podKey);
    if (existing?.result) return existing.result; // attach to the finished pod: no second copy
    const source = this.claims.get(key(req.namespace, req.sourceClaim));
    const target = this.claims.get(key(req.namespace, req.targetClaim));
    const from = source?.volumeName ? this.pvs.get(source.volumeName) : undefined;
    const to = target?.volumeName ? this.pvs.get(target.volumeName) : undefined;
    await this.mutate(`runMigrator:${req.mode}`, req.key, podKey, () => {
      if (!from || !to || source?.phase !== 'Bound' || target?.phase !== 'Bound') {
        throw new MigratorFailedError(req.podName, `claim ${req.sourceClaim} or ${req.targetClaim} is not Bound`, '');
      }
      const users = [...this.pods.values()].filter(
        (p) => p.claims.includes(req.sourceClaim) && !p.labels['storage.ms2m.io/role'],
      );
      if (req.mode === 'sync' && users.length > 0) {
        throw new MigratorFailedError(
          req.podName,
          `claim ${req.sourceClaim} is still used by Pod ${users[0]!.name}`,
          '',
        );
      }
      if (!existing) {
        this.pods.set(podKey, {
          namespace: req.namespace,
          name: req.podName,
          uid: this.uid('pod'),
          nodeName: req.nodeName,
          phase: 'Running',
          ready: true,
          deleting: false,
          labels: { ...req.labels },
          claims: [req.sourceClaim, req.targetClaim],
        });
      }
      this.copiesStarted.set(req.podName, (this.copiesStarted.get(req.podName) ?? 0) + 1);
      return { applied: true, value: undefined };
    });
    const data = from!.data ?? { digest: `empty-${from!.name}`, bytes: 0, files: 0 };
    if (data.bytes > (quantityBytes(to!.capacity) ?? 0)) {
      this.pods.get(podKey)!.phase = 'Failed';
      throw new MigratorFailedError(
        req.podName,
        `no space left on ${req.targetClaim}`,
        'rclone: no space left on device',
      );
    }
    const step = this.opts.copyStepMs ?? 1000;
    for (let i = 1; i <= 3; i++) {
      await this.opts.clock.sleepUntil(this.opts.clock.now() + step, signal);
      onProgress({
        stage: 'sync',
        bytesTransferred: Math.round((data.bytes * i) / 3),
        bytesTotal: data.bytes,
        files: data.files,
      });
    }
    to!.data = { ...data };
    if (req.mode === 'sync') {
      onProgress({ stage: 'verify', bytesTransferred: data.bytes, bytesTotal: data.bytes, files: data.files });
      if (this.opts.checksumDifferences) {
        this.pods.get(podKey)!.phase = 'Failed';
        throw new ChecksumMismatchError(req.podName, this.opts.checksumDifferences, ['a/file']);
      }
      to!.verifiedCopyOf = data.digest;
    }
    const result: MigratorResult = {
      bytesTransferred: data.bytes,
      bytesTotal: data.bytes,
      files: data.files,
      verified: req.mode === 'sync',
    };
    const pod = this.pods.get(podKey);
    if (pod) Object.assign(pod, { phase: 'Succeeded', ready: false, result });
    this.copiesCompleted.set(req.podName, (this.copiesCompleted.get(req.podName) ?? 0) + 1);
    return result;
  }
}
