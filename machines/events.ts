/**
 * The event catalogue: every fact a migration's log can hold. Events are past-tense facts; the machine sees them
 * as `{type, at, data}` with `at` in epoch ms (taken from the envelope, never from the wall clock).
 * Runtime validation of events read from a log lives in actors/event-schema.ts and must match these types.
 */
import type { FactOf, RuntimeEventData } from './chart.ts';
import type { ActivePhase, MigrationSpec } from './spec.ts';

export interface SourceContainer {
  name: string;
  image: string;
  /** Full container spec as the API returned it (env, mounts, probes, ports, resources). */
  spec: Record<string, unknown>;
}

export interface SourceOwner {
  kind: 'StatefulSet' | 'ReplicaSet' | 'None' | 'Other';
  name?: string;
  deploymentName?: string;
}

/** The steps that run an effect, each with idempotency key `<migrationId>:<step>`. */
export const STEPS = [
  'inspectSource',
  'prepareBroker',
  'takeCheckpoint',
  'transferCheckpoint',
  'recordReplicas',
  'scaleDownSource',
  'awaitSourceGone',
  'createTargetPod',
  'awaitTargetReady',
  'startReplay',
  'stopSource',
  'monitorReplay',
  'endReplay',
  'deleteReplayQueue',
  'deleteSourcePod',
  'handOverTarget',
  'awaitSourceReleased',
  'releaseTarget',
  'restoreReplicas',
  'compensate',
] as const;
export type Step = (typeof STEPS)[number];

export interface EventData {
  /** `labels`: the resource's metadata.labels when it was requested (absent in logs written before they were kept). */
  MigrationRequested: { spec: MigrationSpec; labels?: Record<string, string> };
  SourceInspected: {
    sourceNode: string;
    sourceUid: string;
    containerName: string;
    containers: SourceContainer[];
    labels: Record<string, string>;
    podSpec: Record<string, unknown>;
    owner: SourceOwner;
    targetNodeFound: boolean;
  };
  ReplayQueueCreated: { queue: string };
  CheckpointCreated: { path: string; sizeBytes?: number };
  TransferProgressed: { bytesTransferred: number; bytesTotal: number };
  TransferCompleted: { image: string; bytes: number; sha256: string };
  ReplicasRecorded: { statefulSet: string; originalReplicas: number };
  SourceScaledDown: { statefulSet: string };
  SourcePodGone: Record<string, never>;
  TargetPodCreated: { pod: string };
  TargetPodReady: { pod: string };
  ReplayStarted: { queue: string; controlQueue: string };
  SourceStopped: { replayQueueUnbound: boolean };
  ReplayDepthSampled: {
    depth: number;
    ready: number;
    unacked: number;
    consumerRate?: number;
    producerRate?: number;
    settled: boolean;
    /**
     * The source was stopped (replay queue unbound) when this reading was taken and nothing was ready in the
     * replay queue (AMQP's fresh count): nothing can enter it any more, and what it still holds is delivered to
     * the target, which finishes it before it switches to its primary queue at END_REPLAY. Ends the replay
     * without waiting for the lagging statistics. Absent in logs written before it existed (then a settled
     * depth 0 ends the replay, as it did).
     */
    drained?: boolean;
  };
  ReplayEnded: Record<string, never>;
  ReplayQueueDeleted: Record<string, never>;
  SourcePodDeleted: Record<string, never>;
  TargetHandedOver: { mode: 'Adopt' | 'PatchAffinity' };
  SourceReleased: Record<string, never>;
  TargetReleased: Record<string, never>;
  StatefulSetRestored: { replicas: number };
  // recorded by the runtime itself (machines/chart.ts)
  StepFailed: RuntimeEventData<Step, ActivePhase>['StepFailed'];
  DeadlineExceeded: RuntimeEventData<Step, ActivePhase>['DeadlineExceeded'];
  CancelRequested: RuntimeEventData<Step, ActivePhase>['CancelRequested'];
  CompensationCompleted: { actions: string[]; leftovers: string[] };
}

export type EventType = keyof EventData;

/** A fact as the machine sees it. */
export type MachineEvent = { [K in EventType]: { type: K; at: number; data: EventData[K] } }[EventType];
export type EventOf<K extends EventType> = Extract<MachineEvent, { type: K }>;
/** What an effect produces: the fact without its time (the host stamps `at` from the clock). */
export type Fact = FactOf<MachineEvent>;
