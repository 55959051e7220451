/**
 * The VolumeResize event catalogue: every fact a resize's log can hold, and its steps. Facts about one volume of
 * one replica (a "unit") carry `replica` and `volume`; the chart's resume markers are these facts: after a crash
 * the fold says which units are done, and the next step is computed from that (volume-resize-plan.ts).
 * Runtime validation (zod) lives in actors/charts/volume-resize-schemas.ts and must match these types.
 */
import type { FactOf, RuntimeEventData } from './chart.ts';
import type { VolumeResizeSpec, VrActivePhase } from './volume-resize-spec.ts';

export const VR_STEPS = [
  'inspect',
  'measureUsage',
  'recordOriginals',
  'createTempClaim',
  'awaitTempBound',
  'retainOldVolume',
  'preSync',
  'orphanStatefulSet',
  'deleteReplicaPod',
  'copyVolume',
  'removeMigrator',
  'retainNewVolume',
  'deleteTempClaim',
  'clearNewClaimRef',
  'deleteOriginalClaim',
  'bindOriginalClaim',
  'recreateStatefulSet',
  'awaitReplicasReady',
  'rollback',
] as const;
export type VrStep = (typeof VR_STEPS)[number];

/** Steps done once per unit (replica × volume), in their order within a phase. */
export const UNIT_STEPS = [
  'measureUsage',
  'createTempClaim',
  'awaitTempBound',
  'retainOldVolume',
  'preSync',
  'copyVolume',
  'removeMigrator',
  'retainNewVolume',
  'deleteTempClaim',
  'clearNewClaimRef',
  'deleteOriginalClaim',
  'bindOriginalClaim',
] as const satisfies readonly VrStep[];
export type UnitStep = (typeof UNIT_STEPS)[number];

export type ReclaimPolicyName = 'Retain' | 'Delete' | 'Recycle';

/** Where a fact about one volume of one replica belongs. */
export interface UnitRef {
  replica: number;
  volume: string;
}

export interface InspectedTemplate {
  name: string;
  request: string;
  storageClassName?: string;
  accessModes: string[];
  labels: Record<string, string>;
}

export interface InspectedClaim extends UnitRef {
  /** `<vol>-<sts>-<n>`. */
  name: string;
  found: boolean;
  uid?: string;
  phase?: string;
  volumeName?: string;
  request?: string;
  storageClassName?: string;
}

export interface InspectedClass {
  volume: string;
  /** The class asked for (spec, else the template's); null: the cluster default was asked for. */
  requested: string | null;
  /** The class found (the default class's name when `requested` is null). */
  name?: string;
  found: boolean;
  provisioner?: string;
  /** For statically provisioned classes: Available PVs at least as large as the new size. */
  availableVolumes?: number;
  static: boolean;
}

export interface VrEventData {
  VolumeResizeRequested: { spec: VolumeResizeSpec; labels?: Record<string, string> };
  StatefulSetInspected: {
    found: boolean;
    uid?: string;
    replicas?: number;
    podLabels?: Record<string, string>;
    templates?: InspectedTemplate[];
    /** Replica pods as they are now (absent: not running). */
    pods?: Array<{ replica: number; name: string; uid: string; nodeName?: string }>;
    claims?: InspectedClaim[];
    /** PDBs whose selector matches the StatefulSet's pods. */
    pdbs?: Array<{ name: string; disruptionsAllowed: number }>;
    classes?: InspectedClass[];
  };
  UsageMeasured: UnitRef & { usedBytes: number; usedInodes: number };
  OriginalsRecorded: {
    statefulSetUid: string;
    replicas: number;
    /** The StatefulSet as read (wire shape): what rollback recreates. */
    manifest: Record<string, unknown>;
    claims: Array<
      UnitRef & {
        claimUid: string;
        pv: string;
        reclaimPolicy: ReclaimPolicyName;
        request: string;
        storageClassName?: string;
        accessModes: string[];
        labels: Record<string, string>;
        nodeName?: string;
      }
    >;
  };
  TempClaimCreated: UnitRef & { claim: string; uid: string };
  TempClaimBound: UnitRef & { pv: string };
  OldVolumeRetained: UnitRef & { pv: string; originalPolicy: ReclaimPolicyName };
  PreSyncCompleted: UnitRef & { bytesTransferred: number; bytesTotal: number };
  StatefulSetOrphaned: { uid: string };
  ReplicaPodDeleted: { replica: number; pod: string };
  CopyProgressed: UnitRef & { stage: 'sync' | 'verify'; bytesTransferred: number; bytesTotal: number };
  VolumeCopied: UnitRef & { bytesTransferred: number; bytesTotal: number; files: number; verified: boolean };
  MigratorRemoved: UnitRef;
  NewVolumeRetained: UnitRef & { pv: string; originalPolicy: ReclaimPolicyName };
  TempClaimDeleted: UnitRef;
  NewClaimRefCleared: UnitRef & { pv: string };
  OriginalClaimDeleted: UnitRef & { claim: string };
  OriginalClaimRebound: UnitRef & { claim: string; uid: string; pv: string };
  StatefulSetRecreated: { uid: string };
  ReplicasReady: { ready: number };
  // recorded by the runtime itself (machines/chart.ts)
  StepFailed: RuntimeEventData<VrStep, VrActivePhase>['StepFailed'];
  DeadlineExceeded: RuntimeEventData<VrStep, VrActivePhase>['DeadlineExceeded'];
  CancelRequested: RuntimeEventData<VrStep, VrActivePhase>['CancelRequested'];
  RollbackCompleted: {
    actions: string[];
    leftovers: string[];
    /** Claims that name the old (retained) PV again, with the original name. */
    reboundClaims: string[];
  };
}

export type VrEventType = keyof VrEventData;
/** A fact as the machine sees it. */
export type VrEvent = { [K in VrEventType]: { type: K; at: number; data: VrEventData[K] } }[VrEventType];
export type VrEventOf<K extends VrEventType> = Extract<VrEvent, { type: K }>;
export type VrFact = FactOf<VrEvent>;
