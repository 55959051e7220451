/**
 * Runtime validation of every event read from a log. A corrupt or unknown event is a typed
 * CorruptEventError naming the migration and seq — never a crash deep in the fold, never a silent skip.
 * The schemas mirror machines/events.ts; a compile-time check below keeps the two in step.
 */
import { z } from 'zod';
import { CorruptEventError } from '../adapters/event-log/port.ts';
import type { EventEnvelope } from '../machines/envelope.ts';
import { MACHINE_VERSION } from '../machines/envelope.ts';
import { type EventData, type EventType, type MachineEvent, STEPS } from '../machines/events.ts';
import { PHASES } from '../machines/spec.ts';

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

const dataSchemas = {
  MigrationRequested: z.object({ spec: migrationSpecSchema }),
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
  }),
  ReplayEnded: empty,
  ReplayQueueDeleted: empty,
  SourcePodDeleted: empty,
  TargetHandedOver: z.object({ mode: z.enum(['Adopt', 'PatchAffinity']) }),
  SourceReleased: empty,
  TargetReleased: empty,
  StatefulSetRestored: z.object({ replicas: count }),
  StepFailed: z.object({
    step: z.enum(STEPS),
    code: str,
    message: z.string(),
    transient: z.boolean(),
    attempt: z.number().int().positive(),
  }),
  DeadlineExceeded: z.object({ phase: activePhase }),
  CancelRequested: z.object({ reason: z.string() }),
  CompensationCompleted: z.object({ actions: z.array(z.string()), leftovers: z.array(z.string()) }),
} satisfies { [K in EventType]: z.ZodType<EventData[K]> };

// compile-time: every schema's output is exactly the machine's data type (both directions)
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const schemasMatchEvents: { [K in EventType]: Exact<z.infer<(typeof dataSchemas)[K]>, EventData[K]> } =
  Object.fromEntries(Object.keys(dataSchemas).map((k) => [k, true])) as never;
void schemasMatchEvents;

const envelopeSchema = z.object({
  migrationId: str,
  seq: z.number().int().positive(),
  type: str,
  at: z.iso.datetime({ offset: true }),
  machineVersion: z.number().int().positive(),
  data: z.unknown(),
});

/** Upcasters turn events of older machineVersions into the current shape (none needed yet: version 1). */
const upcasters: Record<number, (env: EventEnvelope) => EventEnvelope> = {};

/**
 * Validates one stored event and returns what the machine sees.
 *
 * @example
 * ```ts
 * const events = (await log.read(id)).map((env, i) => parseEvent(env, id, i + 1));
 * ```
 */
export function parseEvent(raw: unknown, migrationId: string, expectedSeq?: number): MachineEvent {
  const found = (raw as { seq?: unknown } | null)?.seq;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CorruptEventError(migrationId, expectedSeq, `event must be a JSON object, found ${kindOf(raw)}`);
  }
  if (typeof found !== 'number') {
    throw new CorruptEventError(migrationId, expectedSeq, `seq must be a number, found ${kindOf(found)}`);
  }
  const env = envelopeSchema.safeParse(raw);
  if (!env.success) {
    throw new CorruptEventError(migrationId, found, `not a valid envelope: ${issuesText(env.error)}`, {
      cause: env.error,
    });
  }
  let e = env.data as EventEnvelope;
  if (e.migrationId !== migrationId) {
    throw new CorruptEventError(migrationId, e.seq, `belongs to migration ${e.migrationId}`);
  }
  if (expectedSeq !== undefined && e.seq !== expectedSeq) {
    const what = e.seq < expectedSeq ? 'seq goes back' : 'seq gap';
    throw new CorruptEventError(
      migrationId,
      expectedSeq,
      `${what}: found seq ${e.seq} where seq ${expectedSeq} was expected`,
    );
  }
  if (e.machineVersion > MACHINE_VERSION) {
    throw new CorruptEventError(
      migrationId,
      e.seq,
      `written by machineVersion ${e.machineVersion}, this build knows up to ${MACHINE_VERSION}`,
      { fix: 'upgrade ms2m to a build that knows it' },
    );
  }
  for (let v = e.machineVersion; v < MACHINE_VERSION; v++) e = upcasters[v]?.(e) ?? e;
  if (!Object.hasOwn(dataSchemas, e.type)) {
    throw new CorruptEventError(migrationId, e.seq, `unknown event type '${e.type}'`, {
      fix: 'upgrade ms2m if a newer build wrote it, otherwise restore the log from a backup',
    });
  }
  const data = dataSchemas[e.type as EventType].safeParse(e.data);
  if (!data.success) {
    throw new CorruptEventError(migrationId, e.seq, `${e.type} has invalid data: ${issuesText(data.error, 'data')}`, {
      cause: data.error,
    });
  }
  return { type: e.type, at: Date.parse(e.at), data: data.data } as MachineEvent;
}

/** Validates a whole log of one migration (seq from 1, no gaps). */
export function parseLog(envelopes: readonly unknown[], migrationId: string): MachineEvent[] {
  return envelopes.map((env, i) => parseEvent(env, migrationId, i + 1));
}

/** Zod issues on one line (`path: message; ...`), so an error stays one line in logs and on the command line. */
function issuesText(error: z.ZodError, root?: string): string {
  return error.issues
    .map((i) => {
      const path = [...(root ? [root] : []), ...i.path.map(String)].join('.');
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join('; ');
}

function kindOf(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
