/**
 * Volumes, as a port: every side effect the VolumeResize chart (machines/volume-resize*.ts,
 * actors/effects-volume/) needs from Kubernetes, in domain shapes. The real implementation (client-node, a probe
 * pod running `du`, a migrator pod running rclone) lives beside this file; `test/support/fake-volumes.ts` is an
 * in-memory cluster for the unit and property tiers.
 *
 * Conventions (as for `adapters/kubernetes/port.ts`):
 * - every write takes a `key` (`<ns>/<vr>:<step>:<replica>:<volume>`), logged with the write, and is idempotent:
 *   creating what exists returns it, deleting what is gone is a no-op, patching to the current value is a no-op;
 * - deletes of an instance take a `{uid}` precondition where the chart saw that instance (a successor with the same
 *   name is not the caller's to delete);
 * - reads return `null` for a missing object and never write;
 * - quantities stay Kubernetes quantity strings (`"1Gi"`, `"500M"`); the chart parses them (machines/quantity.ts);
 * - errors are `Ms2mError`s (adapters/errors.ts) with a code, the object and the fix; `transient: true` when a
 *   retry may help (API unavailable, conflict), else permanent;
 * - long operations (probe, migrator) take an `AbortSignal` and a `timeoutMs` and never wait past either.
 *
 * Waits (claim Bound, StatefulSet gone, replicas Ready) are polls over the reads here, done by the effects with the
 * runtime's clock, so every wait has the chart's deadline and resumes after a crash.
 *
 * @example
 * ```ts
 * const sts = await volumes.getStatefulSet('default', 'db'); // null when missing
 * const usage = await volumes.measureUsage({ namespace: 'default', claimName: 'data-db-0', podName: 'vr1-probe-0-data',
 *   image: 'localhost/ms2m/rclone:dev', nodeName: 'node-a', labels, key: 'default/vr1:measure:0:data',
 *   timeoutMs: 60_000 }, signal);
 * await volumes.setReclaimPolicy('pv-7', 'Retain', { [ORIGINAL_RECLAIM_POLICY]: 'Delete' }, 'default/vr1:retain-old:0:data');
 * const result = await volumes.runMigrator(request, (p) => progress(p.bytesTransferred), signal);
 * ```
 */
import { ErrorCode, Ms2mError } from '../errors.ts';

export interface VolumeOps {
  // ---- reads ----
  /** The StatefulSet with its claim templates and the verbatim manifest needed to recreate it; null when missing. */
  getStatefulSet(namespace: string, name: string): Promise<StatefulSetInfo | null>;
  getClaim(namespace: string, name: string): Promise<ClaimInfo | null>;
  /**
   * Why the claim instance with this uid is not provisioned: the message of its latest `ProvisioningFailed`
   * Warning Event (its provisioner refused it, e.g. not enough capacity), or null when there is none.
   */
  provisioningFailure(namespace: string, name: string, uid: string): Promise<string | null>;
  /** A PersistentVolume (cluster-scoped). */
  getVolume(name: string): Promise<VolumeInfo | null>;
  /** A StorageClass by name; `name === null` asks for the default class (annotation is-default-class). */
  getStorageClass(name: string | null): Promise<StorageClassInfo | null>;
  /** PersistentVolumes of a class that are `Available` (no claimRef): what a static class can still bind. */
  listAvailableVolumes(storageClass: string): Promise<VolumeInfo[]>;
  listPodDisruptionBudgets(namespace: string): Promise<PdbInfo[]>;
  getPod(namespace: string, name: string): Promise<VolumePodInfo | null>;
  /**
   * Objects this VolumeResize created (label {@link RESIZE_LABEL} = `vrName`): temp claims, migrator and probe
   * pods. The finalizer deletes them.
   */
  listResizeObjects(namespace: string, vrName: string): Promise<{ claims: ClaimInfo[]; pods: VolumePodInfo[] }>;

  // ---- measuring ----
  /**
   * Measures the data on a claim with a short probe pod (`du` of the mount: apparent bytes of every file and the
   * number of inodes, files and directories). The pod mounts the claim read-only, runs on `nodeName` when given
   * (a ReadWriteOnce claim in use is reachable only there), is labelled `labels` and is deleted before this
   * returns (also on failure). Resuming with the same `podName` reuses a pod that already finished.
   * Throws {@link ProbeFailedError} when the pod fails or its output cannot be read, `timeoutMs` passing included.
   */
  measureUsage(req: ProbeRequest, signal: AbortSignal): Promise<VolumeUsage>;

  // ---- claims and volumes ----
  /**
   * Creates a claim; returns the existing one when a claim of that name exists (not changed). With `volumeName`
   * the claim is pre-bound to that PV. With `nodeName` and a WaitForFirstConsumer class the adapter makes the
   * claim bind to a volume reachable from that node (selected-node, or pre-binding an Available local PV whose
   * node affinity matches), so that waiting for Bound does not need a consumer pod.
   */
  createClaim(claim: NewClaim, key: string): Promise<ClaimInfo>;
  /** Deletes the claim instance with this uid; a missing claim or another uid is a no-op. Never touches its PV. */
  deleteClaim(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void>;
  /**
   * Sets `spec.persistentVolumeReclaimPolicy` and merges `annotations` into the PV's (the chart records the
   * original policy in {@link ORIGINAL_RECLAIM_POLICY}). Returns the PV as it is after the patch.
   */
  setReclaimPolicy(
    pvName: string,
    policy: ReclaimPolicy,
    annotations: Record<string, string>,
    key: string,
  ): Promise<VolumeInfo>;
  /**
   * Removes `spec.claimRef` from a PV (it becomes Available for the claim pre-bound to it). No-op when it has none,
   * and when its claimRef already names `allowBoundTo` (the claim the chart created for it).
   */
  clearClaimRef(pvName: string, key: string, allowBoundTo?: { namespace: string; name: string }): Promise<void>;

  // ---- the StatefulSet and its pods ----
  /**
   * Deletes the StatefulSet with `propagationPolicy: Orphan` (its pods and claims stay); precondition its uid. A
   * missing StatefulSet or another uid is a no-op.
   */
  deleteStatefulSetOrphan(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void>;
  /**
   * Creates the StatefulSet again from the saved manifest (server fields stripped: uid, resourceVersion,
   * managedFields, status, creationTimestamp), with the claim templates named in `sizes` asking for the new size
   * (and storage class, when given). Returns the existing one when a StatefulSet of that name exists.
   */
  recreateStatefulSet(
    saved: SavedStatefulSet,
    sizes: Readonly<Record<string, TemplateSize>>,
    key: string,
  ): Promise<StatefulSetInfo>;
  /** Deletes the pod instance with this uid (grace period as the pod's); missing or another uid is a no-op. */
  deletePod(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void>;

  // ---- copying ----
  /**
   * Runs the migrator pod: creates it (or attaches to the pod of that name when it exists: a resumed run), it
   * mounts `sourceClaim` at /old (read-only) and `targetClaim` at /new and runs `rclone sync /old /new` with JSON
   * stats; each stats line is passed to `onProgress`. With `verify` (mode `sync`) a checksum pass follows
   * (`rclone check --checksum` or an equivalent comparison of every file): any difference is a
   * {@link ChecksumMismatchError}. Returns when the pod Succeeded; the pod is left for {@link deletePod} (the chart
   * cleans it up in its own step, so a crash between the two does not rerun the copy). A failed pod (exit code,
   * image pull failure, `timeoutMs`) is a {@link MigratorFailedError} with the tail of its log.
   */
  runMigrator(
    req: MigratorRequest,
    onProgress: (p: MigratorProgress) => void,
    signal: AbortSignal,
  ): Promise<MigratorResult>;
}

export type ReclaimPolicy = 'Retain' | 'Delete' | 'Recycle';
export type ClaimPhase = 'Pending' | 'Bound' | 'Lost';
export type VolumePhase = 'Pending' | 'Available' | 'Bound' | 'Released' | 'Failed';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

/** One `spec.volumeClaimTemplates[]` entry. */
export interface ClaimTemplateInfo {
  name: string;
  /** `spec.resources.requests.storage` as written. */
  request: string;
  storageClassName?: string;
  accessModes: string[];
  labels: Record<string, string>;
}

/** The manifest of a StatefulSet as read (JSON, wire shape), kept verbatim in the log so it can be recreated. */
export type SavedStatefulSet = Record<string, unknown>;

export interface StatefulSetInfo {
  namespace: string;
  name: string;
  uid: string;
  /** `spec.replicas` (1 when unset). */
  replicas: number;
  readyReplicas: number;
  /** `status.updatedReplicas` and `currentRevision === updateRevision`: the rollout is done. */
  updatedReplicas: number;
  /** Pod template labels (what PDB selectors match). */
  podLabels: Record<string, string>;
  claimTemplates: ClaimTemplateInfo[];
  deleting: boolean;
  manifest: SavedStatefulSet;
}

export interface ClaimInfo {
  namespace: string;
  name: string;
  uid: string;
  phase: ClaimPhase;
  /** `spec.volumeName`: the PV bound (or pre-bound) to it. */
  volumeName?: string;
  storageClassName?: string;
  /** `spec.resources.requests.storage`. */
  request: string;
  /** `status.capacity.storage`, once bound. */
  capacity?: string;
  accessModes: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  deleting: boolean;
}

export interface VolumeInfo {
  name: string;
  uid: string;
  phase: VolumePhase;
  reclaimPolicy: ReclaimPolicy;
  /** `spec.capacity.storage`. */
  capacity: string;
  storageClassName?: string;
  claimRef?: { namespace: string; name: string; uid?: string };
  annotations: Record<string, string>;
  /** Nodes named by a required `kubernetes.io/hostname` node affinity (local volumes); empty when unrestricted. */
  nodes: string[];
}

export interface StorageClassInfo {
  name: string;
  provisioner: string;
  reclaimPolicy: ReclaimPolicy;
  volumeBindingMode: 'Immediate' | 'WaitForFirstConsumer';
  allowVolumeExpansion: boolean;
  isDefault: boolean;
}

/** The provisioner of statically provisioned classes: only existing Available PVs can satisfy a claim. */
export const NO_PROVISIONER = 'kubernetes.io/no-provisioner';

export interface PdbInfo {
  namespace: string;
  name: string;
  selector: LabelSelector;
  /** `status.disruptionsAllowed`. */
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
}

export interface VolumePodInfo {
  namespace: string;
  name: string;
  uid: string;
  nodeName?: string;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  ready: boolean;
  deleting: boolean;
  labels: Record<string, string>;
  /** Claim names of its persistentVolumeClaim volumes. */
  claims: string[];
}

export interface NewClaim {
  namespace: string;
  name: string;
  /** Quantity. */
  size: string;
  storageClassName?: string;
  accessModes: string[];
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** Pre-bind to this PV (`spec.volumeName`). */
  volumeName?: string;
  /** Where the claim must be reachable (the node of the data it will receive), for WaitForFirstConsumer classes. */
  nodeName?: string;
}

export interface TemplateSize {
  size: string;
  storageClassName?: string;
}

export interface ProbeRequest {
  namespace: string;
  claimName: string;
  podName: string;
  image: string;
  nodeName?: string;
  labels: Record<string, string>;
  key: string;
  timeoutMs: number;
}

export interface VolumeUsage {
  /** Apparent bytes of all files (`du -sb`). */
  usedBytes: number;
  /** Files and directories. */
  usedInodes: number;
}

export interface MigratorRequest {
  namespace: string;
  /** `<vr>-migrator-<n>-<vol>` (or `<vr>-presync-<n>-<vol>` for a pre-sync). */
  podName: string;
  image: string;
  sourceClaim: string;
  targetClaim: string;
  nodeName?: string;
  labels: Record<string, string>;
  /** `presync`: copy while the app runs (source mounted read-only), no verification; `sync`: copy then verify. */
  mode: 'presync' | 'sync';
  key: string;
  timeoutMs: number;
}

export interface MigratorProgress {
  stage: 'sync' | 'verify';
  bytesTransferred: number;
  bytesTotal: number;
  files: number;
}

export interface MigratorResult {
  /** Bytes rclone copied in this run (a resumed or pre-synced copy copies less). */
  bytesTransferred: number;
  /** Bytes of the source tree. */
  bytesTotal: number;
  files: number;
  /** True when the checksum pass ran and found every file equal (always true for mode `sync` on success). */
  verified: boolean;
}

/** Label on everything a VolumeResize creates (temp claims, migrator and probe pods): the VolumeResize's name. */
export const RESIZE_LABEL = 'storage.ms2m.io/volume-resize';
/** Label: the role of a created object (`temp-claim`, `migrator`, `probe`, `presync`). */
export const RESIZE_ROLE_LABEL = 'storage.ms2m.io/role';
/** PV annotation: the reclaim policy the PV had before the resize changed it to Retain. */
export const ORIGINAL_RECLAIM_POLICY = 'storage.ms2m.io/original-reclaim-policy';
/** PV annotation: `<ns>/<vr>` that retained it (so an operator or a human can find the run). */
export const RETAINED_BY = 'storage.ms2m.io/retained-by';

/** Temp claim of replica `n`'s volume `vol`: `<vol>-<sts>-<n>-new`. */
export const tempClaimName = (vol: string, sts: string, n: number): string => `${vol}-${sts}-${n}-new`;
/** The claim a StatefulSet gives replica `n` for template `vol`: `<vol>-<sts>-<n>`. */
export const replicaClaimName = (vol: string, sts: string, n: number): string => `${vol}-${sts}-${n}`;
/** The pod of replica `n`: `<sts>-<n>`. */
export const replicaPodName = (sts: string, n: number): string => `${sts}-${n}`;
export const migratorPodName = (vr: string, n: number, vol: string): string => `${vr}-migrator-${n}-${vol}`;
export const presyncPodName = (vr: string, n: number, vol: string): string => `${vr}-presync-${n}-${vol}`;
export const probePodName = (vr: string, n: number, vol: string): string => `${vr}-probe-${n}-${vol}`;

/**
 * A claim the resize created stayed unprovisioned: its provisioner kept refusing it (ProvisioningFailed) for
 * `refusedMs`. The message names the class, the size and the provisioner's reason; the rollback that follows
 * undoes what the resize did so far.
 */
export class ProvisioningFailedError extends Ms2mError {
  constructor(claim: string, info: Pick<ClaimInfo, 'request' | 'storageClassName'>, refusedMs: number, reason: string) {
    const cls = info.storageClassName ? `StorageClass ${info.storageClassName}` : 'the default StorageClass';
    super(
      ErrorCode.PROVISIONING_FAILED,
      `PersistentVolumeClaim ${claim} (${info.request}) was not provisioned by ${cls}, which refused it for ${Math.round(refusedMs / 1000)} s: ${reason}; free capacity or set spec.volumes[].storageClass to a class that can provision ${info.request}, then create the VolumeResize again`,
      { details: { claim, storageClass: info.storageClassName, request: info.request } },
    );
  }
}

/** The probe pod failed or its output could not be parsed. */
export class ProbeFailedError extends Ms2mError {
  constructor(pod: string, claim: string, reason: string, opts: { transient?: boolean; cause?: unknown } = {}) {
    super(
      ErrorCode.PROBE_FAILED,
      `Probe pod ${pod} could not measure claim ${claim}: ${reason}; check the pod's events and that the image has du`,
      { ...opts, details: { pod, claim } },
    );
  }
}

/** The migrator pod failed (rclone exit code, image pull, timeout). `logTail` is the end of its log. */
export class MigratorFailedError extends Ms2mError {
  constructor(pod: string, reason: string, logTail: string, opts: { transient?: boolean; cause?: unknown } = {}) {
    super(
      ErrorCode.MIGRATOR_FAILED,
      `Migrator pod ${pod} failed: ${reason}; the source claim is untouched, see the pod's log${logTail ? `: ${logTail}` : ''}`,
      { ...opts, details: { pod, logTail } },
    );
  }
}

/** The checksum pass found files that differ between the old and the new volume. */
export class ChecksumMismatchError extends Ms2mError {
  constructor(pod: string, differences: number, sample: string[]) {
    super(
      ErrorCode.CHECKSUM_MISMATCH,
      `Migrator pod ${pod}: ${differences} file(s) differ after the copy (${sample.slice(0, 5).join(', ')}); the source claim is untouched, retry the resize`,
      { details: { pod, differences, sample } },
    );
  }
}
