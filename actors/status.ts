/**
 * Status projection: snapshot -> `status` of the StatefulMigration (API.md). SHADOW's fields keep their names
 * and formats (phaseTimings as Go-duration strings); conditions and progress are ours.
 *
 * Conditions follow Kubernetes semantics: a condition's `lastTransitionTime` is the time of the event that
 * flipped its status (or first reported it), and stays while later events only change its reason or message.
 * That needs the event sequence, so conditions are a fold: {@link nextConditions} per committed event,
 * {@link StatusProjection} for a live host, {@link statusFromLog} for a log.
 */
import type { EventEnvelope } from '../machines/envelope.ts';
import { Fold } from '../machines/fold.ts';
import type { MigrationSnapshot } from '../machines/migration-chart.ts';
import type { Phase } from '../machines/spec.ts';
import { migrationChart } from './charts/migration.ts';
import { parseLog } from './event-schema.ts';
import { goDuration } from './go-duration.ts';
import type { Committed, HostObserver } from './observers.ts';

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

type ConditionNow = Omit<Condition, 'lastTransitionTime'>;

/** What each condition says for this snapshot (no times: those come from the event sequence). */
export function conditionsOf(snapshot: MigrationSnapshot): ConditionNow[] {
  const c = snapshot.context;
  const done = snapshot.status === 'done';
  const f = c.failure;
  if (snapshot.value === 'Completed') {
    return [
      { type: 'Ready', status: 'True', reason: 'Completed', message: c.message },
      { type: 'Progressing', status: 'False', reason: 'Completed', message: 'Migration completed' },
    ];
  }
  if (!f) return [{ type: 'Progressing', status: 'True', reason: c.phase, message: c.message }];
  const reason =
    f.reason === 'StepFailed' ? (stepReason[f.step ?? ''] ?? 'StepFailed') : (failureReason[f.reason] ?? f.reason);
  const comp = c.compensation;
  return [
    { type: 'Ready', status: 'False', reason, message: f.message },
    { type: 'Failed', status: 'True', reason, message: f.message },
    {
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
    },
    {
      type: 'Progressing',
      status: done ? 'False' : 'True',
      reason: done ? 'Failed' : 'Compensating',
      message: c.message,
    },
  ];
}

/**
 * The conditions after one more event at `at` (ISO time): each keeps its `lastTransitionTime` while its status
 * stays what it was; one whose status flipped, or that is new, takes `at`. Reason and message always follow the
 * snapshot.
 *
 * @example
 * ```ts
 * let conditions: Condition[] = [];
 * for (const c of committed) conditions = nextConditions(conditions, c.snapshot, c.event.at);
 * ```
 */
export function nextConditions(previous: readonly Condition[], snapshot: MigrationSnapshot, at: string): Condition[] {
  const before = new Map(previous.map((c) => [c.type, c]));
  return conditionsOf(snapshot).map((now) => {
    const was = before.get(now.type);
    return { ...now, lastTransitionTime: was && was.status === now.status ? was.lastTransitionTime : at };
  });
}

/**
 * The status of a snapshot. `conditions` are the ones folded up to this snapshot ({@link StatusProjection});
 * without them, every condition is stamped with the snapshot's last event time (right for a first report only).
 *
 * @example
 * ```ts
 * const status = projectStatus(snapshot, { eventLog: log.locate(id), generation: cr.metadata.generation, conditions });
 * ```
 */
export function projectStatus(
  snapshot: MigrationSnapshot,
  extra: { eventLog?: string; generation?: number; conditions?: readonly Condition[] } = {},
): MigrationStatus {
  const c = snapshot.context;
  const done = snapshot.status === 'done';
  const phase: Phase = done ? (snapshot.value === 'Completed' ? 'Completed' : 'Failed') : c.phase;
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
    conditions: extra.conditions ? [...extra.conditions] : nextConditions([], snapshot, iso(c.now)),
    message: c.message,
    observedGeneration: extra.generation,
    eventLog: extra.eventLog,
  };
}

/**
 * One migration's status, folded from its committed events in seq order (an event seen again is skipped).
 *
 * @example
 * ```ts
 * const projection = new StatusProjection();
 * for (const c of batch) projection.apply(c);
 * await patchStatus(projection.status({ eventLog }));
 * ```
 */
export class StatusProjection {
  private conditions: Condition[] = [];
  private snapshot: MigrationSnapshot | null = null;
  private seq = 0;

  /** Folds one committed event; false when it was folded before (a retried batch). */
  apply(c: Pick<Committed<MigrationSnapshot>, 'event' | 'snapshot'>): boolean {
    if (c.event.seq <= this.seq) return false;
    this.seq = c.event.seq;
    this.snapshot = c.snapshot;
    this.conditions = nextConditions(this.conditions, c.snapshot, c.event.at);
    return true;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** The status after the last folded event; null before the first. */
  status(extra: { eventLog?: string; generation?: number } = {}): MigrationStatus | null {
    return this.snapshot && projectStatus(this.snapshot, { ...extra, conditions: this.conditions });
  }
}

/**
 * The status of a migration from its whole log (the `ms2m status` command, tests); null for an empty log.
 *
 * @example
 * ```ts
 * const key = { kind: 'StatefulMigration', id };
 * const status = statusFromLog(await log.read(key), { eventLog: log.locate(key) });
 * ```
 */
export function statusFromLog(
  envelopes: readonly EventEnvelope[],
  extra: { eventLog?: string; generation?: number } = {},
): MigrationStatus | null {
  const first = envelopes[0];
  if (!first) return null;
  const events = parseLog(migrationChart, envelopes, first.id);
  const folding = new Fold(migrationChart, first.id, events[0]!);
  const projection = new StatusProjection();
  envelopes.forEach((event, i) => {
    if (i > 0) folding.apply(events[i]!);
    projection.apply({ event, snapshot: folding.snapshot });
  });
  return projection.status(extra);
}

export interface StatusObserverOptions {
  /** Writes a migration's status (the controller: merge-patch of the CR's status subresource). */
  write(id: string, status: MigrationStatus): Promise<void>;
  /** `status.eventLog` and `observedGeneration` of a migration, when known. */
  extra?(id: string): { eventLog?: string; generation?: number };
  /** Name in logs (default `status`). */
  name?: string;
}

/**
 * The status projection as a host observer: folds every committed event (the history first, when a host opens
 * on an existing log) and writes only the newest status, once per batch and only when it changed. A failed
 * write is retried by the host's observer loop with whatever was committed meanwhile: latest state wins.
 *
 * @example
 * ```ts
 * const status = statusObserver({ write: (id, s) => crs.patchStatus(id, s), extra: (id) => ({ eventLog: log.locate({ kind: 'StatefulMigration', id }) }) });
 * const group = new HostGroup({ host: MigrationHost, deps, observers: [status] });
 * ```
 */
export function statusObserver(o: StatusObserverOptions): HostObserver<MigrationSnapshot> {
  const projections = new Map<string, { projection: StatusProjection; written?: string }>();
  return {
    name: o.name ?? 'status',
    async observe(batch) {
      const id = batch[0]?.id;
      if (id === undefined) return;
      let p = projections.get(id);
      if (!p) {
        p = { projection: new StatusProjection() };
        projections.set(id, p);
      }
      for (const c of batch) p.projection.apply(c);
      const status = p.projection.status(o.extra?.(id));
      if (!status) return;
      const text = JSON.stringify(status);
      if (text === p.written) return;
      await o.write(id, status);
      p.written = text;
      // a finished migration changes no more: its next host (if any) starts from the replayed history
      if (status.phase === 'Completed' || status.phase === 'Failed') projections.delete(id);
    },
  };
}
