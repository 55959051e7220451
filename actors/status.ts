/**
 * Status projection: snapshot -> `status` of the StatefulMigration (API.md). SHADOW's fields keep their names
 * and formats (phaseTimings as Go-duration strings); conditions and progress are ours.
 */
import type { MigrationSnapshot } from '../machines/fold.ts';
import type { Phase } from '../machines/spec.ts';
import { goDuration } from './go-duration.ts';

export interface Condition {
  type: 'Ready' | 'Progressing' | 'Failed' | 'Compensated';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface MigrationStatus {
  phase: Phase;
  sourceNode?: string;
  containerName?: string;
  checkpointID?: string;
  targetPod?: string;
  startTime: string;
  completionTime?: string;
  phaseTimings: Record<string, string>;
  phaseTimingsMs: Record<string, number>;
  strategy?: string;
  statefulSetName?: string;
  deploymentName?: string;
  originalReplicas?: number;
  progress: MigrationSnapshot['context']['progress'];
  cutoff?: { seconds: number; computed: boolean; mu?: number; lambda?: number };
  conditions: Condition[];
  message: string;
  observedGeneration?: number;
  eventLog?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

const failureReason: Record<string, string> = {
  Rejected: 'Rejected',
  DeadlineExceeded: 'DeadlineExceeded',
  Cancelled: 'Cancelled',
  ReplayStalled: 'ReplayStalled',
  ReplayTimeout: 'ReplayTimeout',
};
const stepReason: Record<string, string> = {
  takeCheckpoint: 'CheckpointFailed',
  transferCheckpoint: 'TransferFailed',
  awaitTargetReady: 'RestoreFailed',
  createTargetPod: 'RestoreFailed',
  inspectSource: 'SourceInvalid',
};

/**
 * @example
 * ```ts
 * const status = projectStatus(host.snapshot()!, { eventLog: log.locate(id), generation: cr.metadata.generation });
 * ```
 */
export function projectStatus(
  snapshot: MigrationSnapshot,
  extra: { eventLog?: string; generation?: number } = {},
): MigrationStatus {
  const c = snapshot.context;
  const done = snapshot.status === 'done';
  const phase: Phase = done ? (snapshot.value === 'Completed' ? 'Completed' : 'Failed') : c.phase;
  const at = iso(c.now);
  const conditions: Condition[] = [];
  const f = c.failure;
  if (snapshot.value === 'Completed') {
    conditions.push({ type: 'Ready', status: 'True', reason: 'Completed', message: c.message, lastTransitionTime: at });
    conditions.push({
      type: 'Progressing',
      status: 'False',
      reason: 'Completed',
      message: 'Migration completed',
      lastTransitionTime: at,
    });
  } else if (f) {
    const reason =
      f.reason === 'StepFailed' ? (stepReason[f.step ?? ''] ?? 'StepFailed') : (failureReason[f.reason] ?? f.reason);
    conditions.push({ type: 'Ready', status: 'False', reason, message: f.message, lastTransitionTime: at });
    conditions.push({ type: 'Failed', status: 'True', reason, message: f.message, lastTransitionTime: at });
    const comp = c.compensation;
    conditions.push({
      type: 'Compensated',
      status: comp ? (comp.leftovers.length === 0 ? 'True' : 'False') : done ? 'False' : 'Unknown',
      reason: comp
        ? comp.leftovers.length === 0
          ? 'Compensated'
          : 'LeftoversRemain'
        : done
          ? 'NotCompensated'
          : 'Compensating',
      message: comp
        ? [...comp.actions, ...comp.leftovers].join('; ') || 'Nothing to undo'
        : 'Undoing what the migration did',
      lastTransitionTime: at,
    });
    conditions.push({
      type: 'Progressing',
      status: done ? 'False' : 'True',
      reason: done ? 'Failed' : 'Compensating',
      message: c.message,
      lastTransitionTime: at,
    });
  } else {
    conditions.push({ type: 'Progressing', status: 'True', reason: phase, message: c.message, lastTransitionTime: at });
  }
  return {
    phase,
    sourceNode: c.source?.node,
    containerName: c.source?.containerName,
    checkpointID: c.checkpoint?.path,
    targetPod: c.targetPod,
    startTime: iso(c.startTime),
    completionTime: c.completionTime === undefined ? undefined : iso(c.completionTime),
    phaseTimings: Object.fromEntries(Object.entries(c.phaseTimings).map(([p, ms]) => [p, goDuration(ms)])),
    phaseTimingsMs: { ...c.phaseTimings } as Record<string, number>,
    strategy: c.strategy,
    statefulSetName: c.statefulSetName,
    deploymentName: c.source?.owner.deploymentName,
    originalReplicas: c.originalReplicas,
    progress: c.progress,
    cutoff: c.replay.cutoff,
    conditions,
    message: c.message,
    observedGeneration: extra.generation,
    eventLog: extra.eventLog,
  };
}
