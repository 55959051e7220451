/**
 * An in-memory cluster behind the VolumeOps port, for the unit and property tiers: StatefulSets whose controller
 * recreates missing pods (and missing claims, from the templates, empty), claims that bind (dynamically
 * provisioned, or pre-bound to a PV), PV reclaim on claim removal (Delete destroys the data, Retain keeps it
 * Released), pvc-protection (a claim in use goes only when its pod does), probe and migrator pods that measure and
 * copy the data. Every mutation runs under the fault plan and lands in the effect journal; every claim removal is
 * recorded with the state of its PV and of the copies of its data, for the safety properties.
 */
import type { Clock } from '../../adapters/clock/port.ts';
import { EffectJournal, type FaultPlan, faulty, noFaults } from '../../adapters/effect-journal.ts';
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

/** The data on a volume: an identity (what was written where first), its size and files. */
export interface FakeData {
  digest: string;
  bytes: number;
  files: number;
}

interface FakePV extends VolumeInfo {
  data: FakeData | null;
  /** True once it holds a copy verified against its source. */
  verifiedCopyOf?: string;
}
interface FakeClaim extends ClaimInfo {}
interface FakePod extends VolumePodInfo {
  result?: MigratorResult;
}
interface FakeSts {
  namespace: string;
  name: string;
  uid: string;
  replicas: number;
  podLabels: Record<string, string>;
  templates: Array<{ name: string; request: string; storageClassName?: string }>;
}

/** A claim's removal, as the safety properties judge it. */
export interface ClaimRemoval {
  claim: string;
  pv?: string;
  policy?: ReclaimPolicy;
  data: FakeData | null;
  /** Other live PVs holding the same data, and whether each is a verified copy or bound to a claim. */
  elsewhere: Array<{ pv: string; verified: boolean; bound: boolean; policy: ReclaimPolicy }>;
  at: number;
}

export interface FakeVolumesOptions {
  clock: Clock;
  faults?: FaultPlan;
  journal?: EffectJournal;
  /** Virtual ms a copy takes per progress step (3 steps). */
  copyStepMs?: number;
  /** Makes the checksum pass find this many differences. */
  checksumDifferences?: number;
}

const key = (ns: string, name: string) => `${ns}/${name}`;

export class FakeVolumes implements VolumeOps {
  readonly journal: EffectJournal;
  readonly pvs = new Map<string, FakePV>();
  readonly claims = new Map<string, FakeClaim>();
  readonly pods = new Map<string, FakePod>();
  readonly statefulSets = new Map<string, FakeSts>();
  readonly classes = new Map<string, StorageClassInfo>();
  readonly pdbs: PdbInfo[] = [];
  readonly removals: ClaimRemoval[] = [];
  /** Migrator copies actually started, per pod name (an attach to a finished pod is not one). */
  readonly copiesStarted = new Map<string, number>();
  /** Copies that ran to the end (data written and, for mode sync, verified), per pod name. */
  readonly copiesCompleted = new Map<string, number>();
  private seq = 0;
  private readonly opts: FakeVolumesOptions;
  private readonly faults: FaultPlan;

  constructor(opts: FakeVolumesOptions) {
    this.opts = opts;
    this.faults = opts.faults ?? noFaults;
    this.journal = opts.journal ?? new EffectJournal(opts.clock);
  }

  private uid(prefix: string) {
    return `${prefix}-${++this.seq}`;
  }
  private mutate<T>(op: string, k: string, object: string, apply: () => { applied: boolean; value: T }) {
    return faulty({ clock: this.opts.clock, faults: this.faults, journal: this.journal }, op, k, object, apply);
  }

  // ---- seeding ----
  addStorageClass(sc: Partial<StorageClassInfo> & { name: string }): void {
    this.classes.set(sc.name, {
      provisioner: 'ms2m.io/local',
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
      allowVolumeExpansion: false,
      isDefault: false,
      ...sc,
    });
  }

  /** A StatefulSet with `replicas` running pods, each claim bound to a PV holding `data(replica, volume)`. */
  seedStatefulSet(s: {
    namespace: string;
    name: string;
    replicas: number;
    templates: Array<{ name: string; request: string; storageClassName?: string }>;
    data: (replica: number, volume: string) => FakeData;
  }): void {
    const sts: FakeSts = { ...s, uid: this.uid('sts'), podLabels: { app: s.name } };
    this.statefulSets.set(key(s.namespace, s.name), sts);
    for (let n = 0; n < s.replicas; n++) {
      for (const t of s.templates) {
        const claim = this.newClaim({
          namespace: s.namespace,
          name: `${t.name}-${s.name}-${n}`,
          size: t.request,
          storageClassName: t.storageClassName,
          accessModes: ['ReadWriteOnce'],
          labels: { app: s.name },
        });
        this.bind(claim);
        this.pvs.get(claim.volumeName!)!.data = s.data(n, t.name);
      }
    }
    this.reconcile();
  }

  // ---- the controllers (run on every call) ----
  /** StatefulSet controller, PV binder, pvc-protection and reclaim; pods start Ready when their claims are Bound. */
  reconcile(): void {
    for (const sts of this.statefulSets.values()) {
      for (let n = 0; n < sts.replicas; n++) {
        const name = `${sts.name}-${n}`;
        if (this.pods.has(key(sts.namespace, name))) continue;
        const claims = sts.templates.map((t) => `${t.name}-${sts.name}-${n}`);
        for (const [i, c] of claims.entries()) {
          if (!this.claims.has(key(sts.namespace, c))) {
            const t = sts.templates[i]!;
            this.newClaim({
              namespace: sts.namespace,
              name: c,
              size: t.request,
              storageClassName: t.storageClassName,
              accessModes: ['ReadWriteOnce'],
              labels: { app: sts.name },
            });
          }
        }
        this.pods.set(key(sts.namespace, name), {
          namespace: sts.namespace,
          name,
          uid: this.uid('pod'),
          nodeName: `node-${n % 2 === 0 ? 'a' : 'b'}`,
          phase: 'Running',
          ready: false,
          deleting: false,
          labels: { ...sts.podLabels },
          claims,
        });
      }
    }
    for (const c of this.claims.values()) if (c.phase === 'Pending') this.bind(c);
    for (const p of this.pods.values()) {
      if (p.phase === 'Running')
        p.ready = p.claims.every((c) => this.claims.get(key(p.namespace, c))?.phase === 'Bound');
    }
    for (const c of [...this.claims.values()]) {
      if (c.deleting && !this.inUse(c)) this.removeClaim(c);
    }
  }

  private inUse(c: FakeClaim): boolean {
    return [...this.pods.values()].some(
      (p) => p.namespace === c.namespace && p.claims.includes(c.name) && p.phase !== 'Succeeded',
    );
  }

  private newClaim(n: NewClaim): FakeClaim {
    const c: FakeClaim = {
      namespace: n.namespace,
      name: n.name,
      uid: this.uid('pvc'),
      phase: 'Pending',
      volumeName: n.volumeName,
      storageClassName: n.storageClassName ?? [...this.classes.values()].find((s) => s.isDefault)?.name,
      request: n.size,
      accessModes: n.accessModes,
      labels: { ...n.labels },
      annotations: { ...(n.annotations ?? {}) },
      deleting: false,
    };
    this.claims.set(key(c.namespace, c.name), c);
    return c;
  }

  private bind(c: FakeClaim): void {
    if (c.volumeName) {
      const pv = this.pvs.get(c.volumeName);
      if (!pv) return;
      const ref = pv.claimRef;
      if (ref && !(ref.namespace === c.namespace && ref.name === c.name && (!ref.uid || ref.uid === c.uid))) return;
      pv.claimRef = { namespace: c.namespace, name: c.name, uid: c.uid };
      pv.phase = 'Bound';
      c.phase = 'Bound';
      c.capacity = pv.capacity;
      return;
    }
    const sc = c.storageClassName ? this.classes.get(c.storageClassName) : undefined;
    if (!sc) return;
    const want = quantityBytes(c.request) ?? 0;
    let pv: FakePV | undefined;
    if (sc.provisioner === NO_PROVISIONER) {
      pv = [...this.pvs.values()].find(
        (v) => v.phase === 'Available' && v.storageClassName === sc.name && (quantityBytes(v.capacity) ?? 0) >= want,
      );
      if (!pv) return;
    } else {
      pv = this.addVolume({
        name: `pvc-${c.uid}`,
        capacity: c.request,
        storageClassName: sc.name,
        reclaimPolicy: sc.reclaimPolicy,
      });
    }
    pv.claimRef = { namespace: c.namespace, name: c.name, uid: c.uid };
    pv.phase = 'Bound';
    c.volumeName = pv.name;
    c.phase = 'Bound';
    c.capacity = pv.capacity;
  }

  /** A PV (static provisioning, or what the provisioner made). */
  addVolume(v: { name: string; capacity: string; storageClassName?: string; reclaimPolicy?: ReclaimPolicy }): FakePV {
    const pv: FakePV = {
      name: v.name,
      uid: this.uid('pv'),
      phase: 'Available',
      reclaimPolicy: v.reclaimPolicy ?? 'Delete',
      capacity: v.capacity,
      storageClassName: v.storageClassName,
      annotations: {},
      nodes: [],
      data: null,
    };
    this.pvs.set(pv.name, pv);
    return pv;
  }

  private removeClaim(c: FakeClaim): void {
    const pv = c.volumeName ? this.pvs.get(c.volumeName) : undefined;
    const boundToIt = pv?.claimRef?.uid === c.uid;
    const data = boundToIt ? (pv?.data ?? null) : null;
    this.removals.push({
      claim: key(c.namespace, c.name),
      pv: pv?.name,
      policy: pv?.reclaimPolicy,
      data,
      elsewhere: data
        ? [...this.pvs.values()]
            .filter((o) => o !== pv && o.data?.digest === data.digest)
            .map((o) => ({
              pv: o.name,
              verified: o.verifiedCopyOf === data.digest,
              bound: o.phase === 'Bound',
              policy: o.reclaimPolicy,
            }))
        : [],
      at: this.opts.clock.now(),
    });
    this.claims.delete(key(c.namespace, c.name));
    if (pv && boundToIt) {
      if (pv.reclaimPolicy === 'Delete') this.pvs.delete(pv.name);
      else pv.phase = 'Released';
    }
  }

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

  // ---- for assertions ----
  /** The live PVs holding data with this digest. */
  holders(digest: string): FakePV[] {
    return [...this.pvs.values()].filter((pv) => pv.data?.digest === digest);
  }
  claimOf(namespace: string, name: string): FakeClaim | undefined {
    return this.claims.get(key(namespace, name));
  }
  pv(name: string): FakePV | undefined {
    return this.pvs.get(name);
  }
}
