/**
 * The normalised StatefulMigration spec the chart runs on (defaults applied, validated by the controller).
 * Field names follow SHADOW's CRD where they exist (see shared API.md).
 */
export const PHASES = [
  'Pending',
  'Checkpointing',
  'Transferring',
  'Restoring',
  'Replaying',
  'Finalizing',
  'Completed',
  'Failed',
] as const;
export type Phase = (typeof PHASES)[number];
export type ActivePhase = Exclude<Phase, 'Completed' | 'Failed'>;

export type Strategy = 'ShadowPod' | 'Sequential';
export type TransferMode = 'Registry' | 'Direct';
export type ReplayMode = 'Cutoff' | 'Drain';
export type FinalizeDeploymentMode = 'Adopt' | 'PatchAffinity';

export interface MessageQueueConfig {
  queueName: string;
  brokerUrl: string;
  exchangeName: string;
  routingKey?: string;
}

export interface MigrationSpec {
  namespace: string;
  /** The StatefulMigration's name and uid (owner of the target pod). */
  name: string;
  uid: string;
  sourcePod: string;
  containerName?: string;
  targetNode: string;
  /** Unset = auto-detect from the source pod's owner. */
  migrationStrategy?: Strategy;
  transferMode: TransferMode;
  checkpointImageRepository?: string;
  replayMode: ReplayMode;
  /** Unset or 0 = computed from replayMaxSeconds · mu / lambda. */
  replayCutoffSeconds?: number;
  replayMaxSeconds: number;
  drainStallSeconds: number;
  messageQueueConfig: MessageQueueConfig;
  /** Seconds per active phase; exceeding one fails the migration with compensation. */
  phaseDeadlines: Record<ActivePhase, number>;
  finalizeDeploymentMode: FinalizeDeploymentMode;
  /** Bounded retries of transient adapter errors, with exponential backoff from retryBaseMs. */
  maxAttempts: number;
  retryBaseMs: number;
}

export const DEFAULT_PHASE_DEADLINES: Record<ActivePhase, number> = {
  Pending: 60,
  Checkpointing: 300,
  Transferring: 900,
  Restoring: 600,
  Replaying: 900,
  Finalizing: 300,
};

/** Backoff before attempt `attempt + 1` (attempt counts from 1): base · 2^(attempt-1), capped at 30 s. */
export const retryDelayMs = (spec: Pick<MigrationSpec, 'retryBaseMs'>, attempt: number): number =>
  Math.min(30_000, spec.retryBaseMs * 2 ** (attempt - 1));
