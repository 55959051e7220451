/**
 * What a migration remembers: everything the status projection, the effects and compensation need.
 * Times are epoch ms taken from event timestamps, so a fold of the log gives the same context as the live run.
 */
import { effectKey as chartEffectKey } from './chart.ts';
import type { Cutoff } from './cutoff.ts';
import type { SourceContainer, SourceOwner, Step } from './events.ts';
import type { ActivePhase, MigrationSpec, Phase, Strategy } from './spec.ts';

export type FailureReason =
  | 'Rejected'
  | 'StepFailed'
  | 'DeadlineExceeded'
  | 'Cancelled'
  | 'ReplayStalled'
  | 'ReplayTimeout';

export interface MigrationContext {
  migrationId: string;
  spec: MigrationSpec;
  startTime: number;
  /** Time of the last event the machine took. */
  now: number;
  phase: Phase;
  phaseStartedAt: number;
  /** Milliseconds spent in each phase that has ended. */
  phaseTimings: Partial<Record<ActivePhase, number>>;
  strategy?: Strategy;
  source?: {
    node: string;
    uid: string;
    containerName: string;
    containers: SourceContainer[];
    labels: Record<string, string>;
    podSpec: Record<string, unknown>;
    owner: SourceOwner;
  };
  replayQueue?: string;
  checkpoint?: { path: string; sizeBytes?: number };
  image?: string;
  targetPod?: string;
  statefulSetName?: string;
  originalReplicas?: number;
  progress: {
    bytesTransferred: number;
    bytesTotal: number;
    replayDepth?: number;
    replayed: number;
    etaSeconds?: number;
  };
  replay: {
    startedAt?: number;
    cutoff?: Cutoff;
    mu?: number;
    lambda?: number;
    lastDepth?: number;
    lastDecreaseAt?: number;
    sourceStopped: boolean;
  };
  /** Effects known to have happened: what compensation must undo and what it must not touch. */
  done: {
    replayQueueCreated: boolean;
    checkpointTaken: boolean;
    imageTransferred: boolean;
    scaledDown: boolean;
    sourceGone: boolean;
    targetCreated: boolean;
    targetReady: boolean;
    sourceStopped: boolean;
    replayEnded: boolean;
    replayQueueDeleted: boolean;
    sourceDeleted: boolean;
    targetHandedOver: boolean;
    replicasRestored: boolean;
  };
  /** Attempts made so far per step (1 = first try). */
  attempts: Partial<Record<Step, number>>;
  retry?: { step: Step; attempt: number; at: number };
  failure?: { reason: FailureReason; phase: ActivePhase; step?: Step; code?: string; message: string };
  cancelRequested?: { at: number; reason: string; ignored: boolean };
  compensation?: { actions: string[]; leftovers: string[] };
  completionTime?: number;
  /** Human summary of the last change. */
  message: string;
}

export interface MigrationInput {
  migrationId: string;
  spec: MigrationSpec;
  /** Time of the MigrationRequested event. */
  at: number;
}

export function initialContext({ migrationId, spec, at }: MigrationInput): MigrationContext {
  return {
    migrationId,
    spec,
    startTime: at,
    now: at,
    phase: 'Pending',
    phaseStartedAt: at,
    phaseTimings: {},
    progress: { bytesTransferred: 0, bytesTotal: 0, replayed: 0 },
    replay: { sourceStopped: false },
    done: {
      replayQueueCreated: false,
      checkpointTaken: false,
      imageTransferred: false,
      scaledDown: false,
      sourceGone: false,
      targetCreated: false,
      targetReady: false,
      sourceStopped: false,
      replayEnded: false,
      replayQueueDeleted: false,
      sourceDeleted: false,
      targetHandedOver: false,
      replicasRestored: false,
    },
    attempts: {},
    message: `Migration of Pod ${spec.namespace}/${spec.sourcePod} to node ${spec.targetNode} requested`,
  };
}

/** Idempotency key of one effect of one migration: `<migrationId>:<step>` (chart.ts `effectKey`). */
export const effectKey = (migrationId: string, step: Step): string => chartEffectKey(migrationId, step);
