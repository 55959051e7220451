/**
 * Runtime validation of the StatefulMigration chart's events: one zod schema per event type's data, mirroring
 * machines/events.ts; a compile-time check below keeps the two in step (both directions). The envelope and the
 * errors are generic (actors/event-schema.ts).
 */
import { z } from 'zod';
import { type EventData, type EventType, STEPS } from '../../machines/events.ts';
import { PHASES } from '../../machines/spec.ts';
import { type Checked, runtimeEventSchemas, type SchemasMatch } from './runtime-schemas.ts';

const str = z.string().min(1);
const count = z.number().int().nonnegative();
const rate = z.number().nonnegative().optional();
const empty = z.object({}).strict();
const record = z.record(z.string(), z.unknown());
const activePhase = z.enum(PHASES).exclude(['Completed', 'Failed']);
const seconds = z.number().positive();

export const migrationSpecSchema = z.object({
  namespace: str,
  name: str,
  uid: z.string(),
  sourcePod: str,
  containerName: str.optional(),
  targetNode: str,
  migrationStrategy: z.enum(['ShadowPod', 'Sequential']).optional(),
  transferMode: z.enum(['Registry', 'Direct']),
  checkpointImageRepository: str.optional(),
  replayMode: z.enum(['Cutoff', 'Drain']),
  replayCutoffSeconds: z.number().nonnegative().optional(),
  replayMaxSeconds: seconds,
  drainStallSeconds: seconds,
  messageQueueConfig: z.object({
    queueName: str,
    brokerUrl: z.string(),
    exchangeName: str,
    routingKey: z.string().optional(),
  }),
  phaseDeadlines: z.object({
    Pending: seconds,
    Checkpointing: seconds,
    Transferring: seconds,
    Restoring: seconds,
    Replaying: seconds,
    Finalizing: seconds,
  }),
  finalizeDeploymentMode: z.enum(['Adopt', 'PatchAffinity']),
  maxAttempts: z.number().int().positive(),
  retryBaseMs: z.number().int().nonnegative(),
});

const container = z.object({ name: str, image: z.string(), spec: record });

/** The schema of every migration event's data (the chart's `schemas`). */
export const migrationEventSchemas = {
  MigrationRequested: z.object({ spec: migrationSpecSchema, labels: z.record(z.string(), z.string()).optional() }),
  SourceInspected: z.object({
    sourceNode: str,
    sourceUid: z.string(),
    containerName: str,
    containers: z.array(container),
    labels: z.record(z.string(), z.string()),
    podSpec: record,
    owner: z.object({
      kind: z.enum(['StatefulSet', 'ReplicaSet', 'None', 'Other']),
      name: z.string().optional(),
      deploymentName: z.string().optional(),
    }),
    targetNodeFound: z.boolean(),
  }),
  ReplayQueueCreated: z.object({ queue: str }),
  CheckpointCreated: z.object({ path: str, sizeBytes: count.optional() }),
  TransferProgressed: z.object({ bytesTransferred: count, bytesTotal: count }),
  TransferCompleted: z.object({ image: str, bytes: count, sha256: z.string() }),
  ReplicasRecorded: z.object({ statefulSet: str, originalReplicas: count }),
  SourceScaledDown: z.object({ statefulSet: str }),
  SourcePodGone: empty,
  TargetPodCreated: z.object({ pod: str }),
  TargetPodReady: z.object({ pod: str }),
  ReplayStarted: z.object({ queue: str, controlQueue: str }),
  SourceStopped: z.object({ replayQueueUnbound: z.boolean() }),
  ReplayDepthSampled: z.object({
    depth: count,
    ready: count,
    unacked: count,
    consumerRate: rate,
    producerRate: rate,
    settled: z.boolean(),
    drained: z.boolean().optional(),
  }),
  ReplayEnded: empty,
  ReplayQueueDeleted: empty,
  SourcePodDeleted: empty,
  TargetHandedOver: z.object({ mode: z.enum(['Adopt', 'PatchAffinity']) }),
  SourceReleased: empty,
  TargetReleased: empty,
  StatefulSetRestored: z.object({ replicas: count }),
  ...runtimeEventSchemas(z.enum(STEPS), activePhase),
  CompensationCompleted: z.object({ actions: z.array(z.string()), leftovers: z.array(z.string()) }),
} satisfies { [K in EventType]: z.ZodType<EventData[K]> };

// compile-time: every schema's output is exactly the machine's data type (both directions)
export type SchemasMatchEvents = Checked<SchemasMatch<typeof migrationEventSchemas, EventData>>;
