/**
 * What a VolumeResize remembers: the StatefulSet as found, one {@link Unit} per replica × volume with what has
 * been done to it (the resume markers), the plan, and the failure. Times are epoch ms from event timestamps, so a
 * fold of the log gives the same context as the live run.
 */
import type { InspectedTemplate, ReclaimPolicyName, UnitStep, VrStep } from './volume-resize-events.ts';
import type { VolumeResizeSpec, VrActivePhase, VrPhase } from './volume-resize-spec.ts';

export type VrFailureReason = 'ValidationFailed' | 'StepFailed' | 'DeadlineExceeded' | 'Cancelled';

/** One volume of one replica: its old claim and PV, its temp claim and new PV, and what was done to them. */
export interface Unit {
  replica: number;
  volume: string;
  /** The original claim `<vol>-<sts>-<n>`: its name never changes. */
  oldClaim: string;
  /** The temp claim `<vol>-<sts>-<n>-new`. */
  tempClaim: string;
  newSize: string;
  /** Class of the new claims (spec's, else the original claim's); unset: the cluster default. */
  storageClass?: string;
  oldClaimUid?: string;
  oldPV?: string;
  oldReclaimPolicy?: ReclaimPolicyName;
  /** The original claim's request, labels and access modes (copied to the claim rebound to the new PV). */
  request?: string;
  oldStorageClass?: string;
  accessModes: string[];
  labels: Record<string, string>;
  nodeName?: string;
  tempClaimUid?: string;
  newPV?: string;
  newReclaimPolicy?: ReclaimPolicyName;
  usedBytes?: number;
  usedInodes?: number;
  bytesCopied: number;
  bytesTotal: number;
  /** Uid of the claim with the original name bound to the new PV. */
  reboundUid?: string;
  /** Steps done for this unit. */
  done: Partial<Record<UnitStep, true>>;
}

/** Steps done once for the whole resize. */
export type GlobalStep = Exclude<VrStep, UnitStep | 'deleteReplicaPod' | 'rollback'>;

export interface PlanEntry {
  order: number;
  /** The step that does it. */
  step: VrStep;
  /** Imperative: `Create`, `Delete`, `Patch`, `Run`, `Wait`, `Orphan`. */
  action: string;
  kind: string;
  name: string;
  detail: string;
}

export interface VolumeResizeContext {
  resizeId: string;
  spec: VolumeResizeSpec;
  startTime: number;
  /** Time of the last event the machine took. */
  now: number;
  phase: VrPhase;
  phaseStartedAt: number;
  /** Milliseconds spent in each phase that has ended. */
  phaseTimings: Partial<Record<VrActivePhase, number>>;
  statefulSet?: { uid: string; replicas: number; podLabels: Record<string, string>; templates: InspectedTemplate[] };
  /** Written ahead of the first change (OriginalsRecorded): what rollback restores. */
  original?: { uid: string; replicas: number; manifest: Record<string, unknown> };
  pods: Record<number, { name: string; uid: string; nodeName?: string }>;
  units: Unit[];
  done: Partial<Record<GlobalStep, true>>;
  /** Replicas whose pod was deleted for the copy. */
  podsDeleted: number[];
  /** The step running now, and its unit (status: currentReplica, currentVolume). */
  current?: { step: VrStep; replica?: number; volume?: string };
  plan: PlanEntry[];
  attempts: Partial<Record<VrStep, number>>;
  retry?: { step: VrStep; attempt: number; at: number };
  failure?: {
    reason: VrFailureReason;
    phase: VrActivePhase;
    step?: VrStep;
    code?: string;
    /** The validation check that failed (ValidationFailed). */
    check?: string;
    message: string;
  };
  cancelRequested?: { at: number; reason: string };
  rollback?: { actions: string[]; leftovers: string[]; reboundClaims: string[] };
  completionTime?: number;
  /** Human summary of the last change (on failure: what happened and how to get the data back). */
  message: string;
}

export interface VolumeResizeInput {
  resizeId: string;
  spec: VolumeResizeSpec;
  at: number;
}

export function initialVrContext({ resizeId, spec, at }: VolumeResizeInput): VolumeResizeContext {
  return {
    resizeId,
    spec,
    startTime: at,
    now: at,
    phase: 'Pending',
    phaseStartedAt: at,
    phaseTimings: {},
    pods: {},
    units: [],
    done: {},
    podsDeleted: [],
    plan: [],
    attempts: {},
    message: `Resize of the volumes ${spec.volumes.map((v) => `${v.name} to ${v.newSize}`).join(', ')} of StatefulSet ${spec.namespace}/${spec.statefulSetName} requested`,
  };
}

/** Idempotency key of one step: `<resizeId>:<step>` plus the unit or replica it acts on. */
export function vrStepKey(resizeId: string, step: VrStep, replica?: number, volume?: string): string {
  return [resizeId, step, ...(replica === undefined ? [] : [String(replica)]), ...(volume ? [volume] : [])].join(':');
}

export const unitIndex = (ctx: Pick<VolumeResizeContext, 'units'>, replica: number, volume: string): number =>
  ctx.units.findIndex((u) => u.replica === replica && u.volume === volume);
