/**
 * The state and controllers behind FakeVolumes (fake-volumes.ts, the in-memory cluster behind the VolumeOps port
 * for the unit and property tiers): StatefulSets whose controller recreates missing pods (and missing claims,
 * from the templates, empty), claims that bind (dynamically provisioned, or pre-bound to a PV), PV reclaim on
 * claim removal (Delete destroys the data, Retain keeps it Released), pvc-protection (a claim in use goes only
 * when its pod does). Every claim removal is recorded with the state of its PV and of the copies of its data, for
 * the safety properties.
 */
import type { Clock } from '../../adapters/clock/port.ts';
import { EffectJournal, type FaultPlan, faulty, noFaults } from '../../adapters/effect-journal.ts';
import {
  type ClaimInfo,
  type MigratorResult,
  type NewClaim,
  NO_PROVISIONER,
  type PdbInfo,
  type ReclaimPolicy,
  type StorageClassInfo,
  type VolumeInfo,
  type VolumePodInfo,
} from '../../adapters/volumes/port.ts';
import { quantityBytes } from '../../machines/quantity.ts';

/** The data on a volume: an identity (what was written where first), its size and files. */
export interface FakeData {
  digest: string;
  bytes: number;
  files: number;
}

export interface FakePV extends VolumeInfo {
  data: FakeData | null;
  /** True once it holds a copy verified against its source. */
  verifiedCopyOf?: string;
}
export interface FakeClaim extends ClaimInfo {}
export interface FakePod extends VolumePodInfo {
  result?: MigratorResult;
}
export interface FakeSts {
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
  /** A provisioner's refusal: a claim it returns a message for stays Pending with that ProvisioningFailed Event. */
  refuseProvisioning?: (claim: { name: string; request: string; storageClassName?: string }) => string | undefined;
}

export const key = (ns: string, name: string) => `${ns}/${name}`;

export class FakeVolumeWorld {
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
  /** The latest ProvisioningFailed message per claim uid (FakeVolumesOptions.refuseProvisioning). */
  readonly provisioningFailures = new Map<string, string>();
  protected seq = 0;
  protected readonly opts: FakeVolumesOptions;
  protected readonly faults: FaultPlan;

  constructor(opts: FakeVolumesOptions) {
    this.opts = opts;
    this.faults = opts.faults ?? noFaults;
    this.journal = opts.journal ?? new EffectJournal(opts.clock);
  }

  protected uid(prefix: string) {
    return `${prefix}-${++this.seq}`;
  }
  protected mutate<T>(op: string, k: string, object: string, apply: () => { applied: boolean; value: T }) {
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

  protected inUse(c: FakeClaim): boolean {
    return [...this.pods.values()].some(
      (p) => p.namespace === c.namespace && p.claims.includes(c.name) && p.phase !== 'Succeeded',
    );
  }

  protected newClaim(n: NewClaim): FakeClaim {
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

  protected bind(c: FakeClaim): void {
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
      const refused = this.opts.refuseProvisioning?.(c);
      if (refused !== undefined) {
        this.provisioningFailures.set(c.uid, refused);
        return;
      }
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

  protected removeClaim(c: FakeClaim): void {
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
