/**
 * Runtime validation of the VolumeResize chart's events: one zod schema per event type's data, mirroring
 * machines/volume-resize-events.ts; the compile-time check below keeps the two in step (both directions).
 */
import { z } from 'zod';
import { VR_STEPS, type VrEventData, type VrEventType } from '../../machines/volume-resize-events.ts';
import { VR_PHASES } from '../../machines/volume-resize-spec.ts';
import { type Checked, runtimeEventSchemas, type SchemasMatch } from './runtime-schemas.ts';

const str = z.string().min(1);
const count = z.number().int().nonnegative();
const replica = count;
const labels = z.record(z.string(), z.string());
const seconds = z.number().positive();
const policy = z.enum(['Retain', 'Delete', 'Recycle']);
const activePhase = z.enum(VR_PHASES).exclude(['Completed', 'Failed']);
const unit = { replica, volume: str };

export const volumeResizeSpecSchema = z.object({
  namespace: str,
  name: str,
  uid: z.string(),
  statefulSetName: str,
  volumes: z.array(z.object({ name: str, newSize: str, storageClass: str.optional() })).min(1),
  dryRun: z.boolean(),
  preSync: z.boolean(),
  usedBytesMargin: z.number().nonnegative(),
  migratorImage: str,
  phaseDeadlines: z.object({ Pending: seconds, Validating: seconds, Syncing: seconds, Replacing: seconds }),
  maxAttempts: z.number().int().positive(),
  retryBaseMs: z.number().int().nonnegative(),
});

const template = z.object({
  name: str,
  request: z.string(),
  storageClassName: z.string().optional(),
  accessModes: z.array(z.string()),
  labels,
});

/** The schema of every VolumeResize event's data (the chart's `schemas`). */
export const volumeResizeEventSchemas = {
  VolumeResizeRequested: z.object({ spec: volumeResizeSpecSchema, labels: labels.optional() }),
  StatefulSetInspected: z.object({
    found: z.boolean(),
    uid: z.string().optional(),
    replicas: count.optional(),
    podLabels: labels.optional(),
    templates: z.array(template).optional(),
    pods: z.array(z.object({ replica, name: str, uid: z.string(), nodeName: z.string().optional() })).optional(),
    claims: z
      .array(
        z.object({
          ...unit,
          name: str,
          found: z.boolean(),
          uid: z.string().optional(),
          phase: z.string().optional(),
          volumeName: z.string().optional(),
          request: z.string().optional(),
          storageClassName: z.string().optional(),
        }),
      )
      .optional(),
    pdbs: z.array(z.object({ name: str, disruptionsAllowed: z.number().int() })).optional(),
    classes: z
      .array(
        z.object({
          volume: str,
          requested: z.string().nullable(),
          name: z.string().optional(),
          found: z.boolean(),
          provisioner: z.string().optional(),
          availableVolumes: count.optional(),
          static: z.boolean(),
        }),
      )
      .optional(),
  }),
  UsageMeasured: z.object({ ...unit, usedBytes: count, usedInodes: count }),
  OriginalsRecorded: z.object({
    statefulSetUid: z.string(),
    replicas: count,
    manifest: z.record(z.string(), z.unknown()),
    claims: z.array(
      z.object({
        ...unit,
        claimUid: z.string(),
        pv: str,
        reclaimPolicy: policy,
        request: z.string(),
        storageClassName: z.string().optional(),
        accessModes: z.array(z.string()),
        labels,
        nodeName: z.string().optional(),
      }),
    ),
  }),
  TempClaimCreated: z.object({ ...unit, claim: str, uid: z.string() }),
  TempClaimBound: z.object({ ...unit, pv: str }),
  OldVolumeRetained: z.object({ ...unit, pv: str, originalPolicy: policy }),
  PreSyncCompleted: z.object({ ...unit, bytesTransferred: count, bytesTotal: count }),
  StatefulSetOrphaned: z.object({ uid: z.string() }),
  ReplicaPodDeleted: z.object({ replica, pod: str }),
  CopyProgressed: z.object({ ...unit, stage: z.enum(['sync', 'verify']), bytesTransferred: count, bytesTotal: count }),
  VolumeCopied: z.object({ ...unit, bytesTransferred: count, bytesTotal: count, files: count, verified: z.boolean() }),
  MigratorRemoved: z.object(unit),
  NewVolumeRetained: z.object({ ...unit, pv: str, originalPolicy: policy }),
  TempClaimDeleted: z.object(unit),
  NewClaimRefCleared: z.object({ ...unit, pv: str }),
  OriginalClaimDeleted: z.object({ ...unit, claim: str }),
  OriginalClaimRebound: z.object({ ...unit, claim: str, uid: z.string(), pv: str }),
  StatefulSetRecreated: z.object({ uid: z.string() }),
  ReplicasReady: z.object({ ready: count }),
  ...runtimeEventSchemas(z.enum(VR_STEPS), activePhase),
  RollbackCompleted: z.object({
    actions: z.array(z.string()),
    leftovers: z.array(z.string()),
    reboundClaims: z.array(z.string()),
  }),
} satisfies { [K in VrEventType]: z.ZodType<VrEventData[K]> };

// compile-time: every schema's output is exactly the machine's data type (both directions)
export type SchemasMatchEvents = Checked<SchemasMatch<typeof volumeResizeEventSchemas, VrEventData>>;
