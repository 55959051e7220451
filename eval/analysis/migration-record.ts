/**
 * One migration's record, built from its events alone (the log is the truth, not status): the events go through
 * the compiled fold (machines/fast-fold.ts, equal to xstate's fold at every event) for phases, timings, outcome
 * and reason, and are read directly for what the context does not keep (bytes on the wire, depth over time,
 * why the source was stopped).
 */
import { migrationChart } from '../../actors/charts/migration.ts';
import { parseEvent } from '../../actors/event-schema.ts';
import type { MigrationContext, MigrationInput } from '../../machines/context.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';
import type { MachineEvent } from '../../machines/events.ts';
import { FastFold } from '../../machines/fast-fold.ts';
import type { MeasuredRun } from './evaluation-run.ts';
import type { MigrationRecord, PhaseKey } from './types.ts';

/** Labels the evaluation runner sets on the resources it creates. */
export const EVAL_LABELS = {
  configuration: 'ms2m.io/eval-configuration',
  rate: 'ms2m.io/eval-rate',
  repetition: 'ms2m.io/eval-repetition',
  run: 'ms2m.io/eval-run',
} as const;

const PHASE_OF: Record<PhaseKey, keyof MigrationContext['phaseTimings']> = {
  pending: 'Pending',
  checkpoint: 'Checkpointing',
  transfer: 'Transferring',
  restore: 'Restoring',
  replay: 'Replaying',
  finalize: 'Finalizing',
};

const numberOrNull = (text: string | undefined): number | null => {
  if (text === undefined || text.trim() === '') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
};

/**
 * The evaluation configuration a migration ran as, when nothing names it: the owner of the source pod and the
 * strategy or transfer (`statefulset-sequential`, `statefulset-shadowpod`, `deployment-direct`, `pod-registry`...).
 */
export function derivedConfiguration(ctx: MigrationContext): string | null {
  const owner = ctx.source?.owner.kind;
  if (!owner) return null;
  if (owner === 'StatefulSet') return `statefulset-${(ctx.strategy ?? 'Sequential').toLowerCase()}`;
  const workload = owner === 'ReplicaSet' ? 'deployment' : owner === 'None' ? 'pod' : 'other';
  return `${workload}-${ctx.spec.transferMode.toLowerCase()}`;
}

/**
 * Folds one migration's events as they come (in seq order) and turns them into a record at the end.
 *
 * @example
 * ```ts
 * const b = new MigrationRecordBuilder('default/m1/uid');
 * for (const env of await reader.read({ kind: 'StatefulMigration', id })) b.add(env);
 * const record = b.build(null); // no evaluation measurement
 * ```
 */
/** What a record holds that does not depend on the run measurement: kept once the migration is finished. */
type Core = Omit<
  MigrationRecord,
  'configuration' | 'msgRate' | 'repetition' | 'downtimeMs' | 'downProbes' | 'accounting' | 'events'
> & { derivedConfiguration: string | null };

export class MigrationRecordBuilder {
  private fold: FastFold<MigrationContext, MachineEvent, MigrationInput> | null = null;
  /** Set when the fold reached a final state: the fold (and the events it keeps) is let go. */
  private finished: Core | null = null;
  private labels: Record<string, string> = {};
  private requestedAt = '';
  private events = 0;
  private bytes: number | null = null;
  private readonly depth: Array<{ at: number; depth: number }> = [];
  private lastSample: { ready: number } | null = null;
  private stoppedAtCutoff: boolean | null = null;

  constructor(readonly id: string) {}

  /** Takes the next event; throws CorruptEventError for an event that does not validate or a seq gap. */
  add(env: EventEnvelope): void {
    const ev = parseEvent(migrationChart, env, this.id, this.events + 1);
    this.events++;
    // a final state absorbs every event unchanged (compiled-fold.ts, xstate): nothing more to fold
    if (this.finished) return;
    if (this.fold) this.fold.apply(ev);
    else this.fold = new FastFold(migrationChart, this.id, ev);
    switch (ev.type) {
      case 'MigrationRequested':
        this.requestedAt = env.at;
        this.labels = { ...(ev.data.labels ?? {}) };
        break;
      case 'TransferCompleted':
        this.bytes = ev.data.bytes;
        break;
      case 'ReplayDepthSampled':
        this.depth.push({ at: ev.at, depth: ev.data.depth });
        this.lastSample = { ready: ev.data.ready };
        break;
      case 'SourceStopped':
        // Cutoff mode stops the source when the target caught up (nothing ready) or when the cutoff is reached
        if (this.stoppedAtCutoff === null) this.stoppedAtCutoff = (this.lastSample?.ready ?? 0) > 0;
        break;
      default:
        break;
    }
    if (this.fold.status === 'done') {
      // a big log holds thousands of finished migrations: keep their records, not their contexts and events
      this.finished = this.core();
      this.fold = null;
    }
  }

  /** The record, joined with the evaluation runner's measurement of this migration when there is one. */
  build(run: MeasuredRun | null): MigrationRecord {
    const { derivedConfiguration: derived, ...core } = this.finished ?? this.core();
    const label = (k: string) => this.labels[k];
    return {
      ...core,
      configuration: label(EVAL_LABELS.configuration) ?? run?.configuration ?? derived,
      msgRate: numberOrNull(label(EVAL_LABELS.rate)) ?? run?.msgRate ?? null,
      repetition: numberOrNull(label(EVAL_LABELS.repetition)) ?? run?.repetition ?? null,
      downtimeMs: run?.downtimeMs ?? null,
      downProbes: run?.downProbes ?? null,
      accounting: run?.accounting ?? null,
      events: this.events,
    };
  }

  private core(): Core {
    const f = this.fold;
    if (!f) throw new Error(`Migration ${this.id} has no events`);
    const ctx = f.context;
    const done = f.status === 'done';
    const phases = {} as Record<PhaseKey, number | null>;
    for (const [key, phase] of Object.entries(PHASE_OF) as Array<[PhaseKey, keyof MigrationContext['phaseTimings']]>) {
      phases[key] = ctx.phaseTimings[phase] ?? null;
    }
    const shadow = [phases.checkpoint, phases.transfer, phases.restore, phases.replay, phases.finalize];
    const timed = shadow.filter((v): v is number => v !== null);
    const replayStart = ctx.replay.startedAt;
    const cutoffMode = ctx.spec.replayMode === 'Cutoff';
    return {
      source: 'ms2m',
      run: 0,
      migration: this.id,
      namespace: ctx.spec.namespace,
      name: ctx.spec.name,
      labels: this.labels,
      derivedConfiguration: derivedConfiguration(ctx),
      evalRun: this.labels[EVAL_LABELS.run] ?? null,
      requestedAt: this.requestedAt,
      finishedAt: done && ctx.completionTime !== undefined ? new Date(ctx.completionTime).toISOString() : null,
      strategy: ctx.strategy ?? ctx.spec.migrationStrategy ?? null,
      transferMode: ctx.spec.transferMode,
      replayMode: ctx.spec.replayMode,
      status: done ? String(f.value) : ctx.phase,
      reason: ctx.failure?.reason ?? null,
      failedPhase: ctx.failure?.phase ?? null,
      message: ctx.failure?.message ?? null,
      phases,
      totalMs: timed.length === 0 ? null : timed.reduce((a, b) => a + b, 0),
      wallMs: done && ctx.completionTime !== undefined ? ctx.completionTime - ctx.startTime : null,
      bytesTransferred: this.bytes ?? (ctx.progress.bytesTransferred > 0 ? ctx.progress.bytesTransferred : null),
      checkpointBytes: ctx.checkpoint?.sizeBytes ?? null,
      replayed: replayStart === undefined ? null : ctx.progress.replayed,
      cutoffTaken: cutoffMode ? (this.stoppedAtCutoff ?? false) : false,
      cutoffSeconds: ctx.replay.cutoff?.seconds ?? null,
      depth:
        replayStart === undefined
          ? []
          : this.depth
              .filter((d) => d.at >= replayStart)
              .map((d) => ({ offsetMs: d.at - replayStart, depth: d.depth })),
    };
  }
}
