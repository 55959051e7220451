/**
 * Status projection of a VolumeResize: snapshot -> `status` (API.md): phase, conditions (Ready, Progressing,
 * Failed, RolledBack; `lastTransitionTime` only moves when a condition's status flips, so they are folded over the
 * events), the plan, one volumeStatus per replica × volume, the current replica and volume, and the message
 * (on failure: what happened and where the data is).
 */

import type { EventLogReader } from '../adapters/event-log/port.ts';
import type { EventEnvelope } from '../machines/envelope.ts';
import { Fold } from '../machines/fold.ts';
import { VOLUME_RESIZE_KIND, type VolumeResizeSnapshot } from '../machines/volume-resize-chart.ts';
import type { Unit } from '../machines/volume-resize-context.ts';
import type { VrPhase } from '../machines/volume-resize-spec.ts';
import { volumeResizeChart } from './charts/volume-resize.ts';
import type { VolumeResizeStatusWire } from './crd/volume-resize.ts';
import { parseLog } from './event-schema.ts';
import type { Committed, HostObserver } from './observers.ts';
import type { Condition } from './status.ts';

export interface VrCondition extends Omit<Condition, 'type'> {
  type: 'Ready' | 'Progressing' | 'Failed' | 'RolledBack';
}
type ConditionNow = Omit<VrCondition, 'lastTransitionTime'>;

const iso = (ms: number) => new Date(ms).toISOString();

/** The phase a status shows (a finished snapshot's final state, else the running phase). */
export const vrPhaseOf = (s: VolumeResizeSnapshot): VrPhase =>
  s.status === 'done' ? (s.value === 'Completed' ? 'Completed' : 'Failed') : s.context.phase;

/** The Failed condition's reason: ValidationFailed, CopyFailed, StepFailed, DeadlineExceeded or Cancelled. */
export function vrFailureReason(s: VolumeResizeSnapshot): string {
  const f = s.context.failure;
  if (!f) return 'Failed';
  if (f.reason === 'StepFailed') return f.step === 'copyVolume' || f.step === 'preSync' ? 'CopyFailed' : 'StepFailed';
  return f.reason;
}

export function vrConditionsOf(s: VolumeResizeSnapshot): ConditionNow[] {
  const c = s.context;
  const done = s.status === 'done';
  if (s.value === 'Completed') {
    const what = c.spec.dryRun ? 'DryRun' : 'Completed';
    return [
      { type: 'Ready', status: 'True', reason: what, message: c.message },
      { type: 'Progressing', status: 'False', reason: what, message: c.message },
    ];
  }
  const f = c.failure;
  if (!f) return [{ type: 'Progressing', status: 'True', reason: c.phase, message: c.message }];
  const reason = vrFailureReason(s);
  const r = c.rollback;
  return [
    { type: 'Ready', status: 'False', reason, message: f.message },
    { type: 'Failed', status: 'True', reason, message: c.message },
    {
      type: 'RolledBack',
      status: r ? 'True' : done ? 'False' : 'Unknown',
      reason: r
        ? r.leftovers.length === 0
          ? 'RolledBack'
          : 'LeftoversRemain'
        : done
          ? 'NothingToRollBack'
          : 'RollingBack',
      message: r ? [...r.actions, ...r.leftovers].join('; ') || 'Nothing to undo' : 'Undoing what the resize did',
    },
    {
      type: 'Progressing',
      status: done ? 'False' : 'True',
      reason: done ? 'Failed' : 'RollingBack',
      message: c.message,
    },
  ];
}

function foldConditions(previous: readonly VrCondition[], now: ConditionNow[], at: string): VrCondition[] {
  const before = new Map(previous.map((c) => [c.type, c]));
  return now.map((n) => {
    const was = before.get(n.type);
    return { ...n, lastTransitionTime: was && was.status === n.status ? was.lastTransitionTime : at };
  });
}

/** What a volume is at: Pending, Preparing, Copying, Copied, Replaced, RolledBack. */
export function unitPhase(s: VolumeResizeSnapshot, u: Unit): string {
  const d = u.done;
  if (s.context.rollback) return 'RolledBack';
  if (d.bindOriginalClaim) return 'Replaced';
  if (d.retainNewVolume || d.deleteTempClaim || d.deleteOriginalClaim) return 'Replacing';
  if (d.copyVolume) return 'Copied';
  const cur = s.context.current;
  if (cur?.replica === u.replica && cur.volume === u.volume && (cur.step === 'copyVolume' || cur.step === 'preSync'))
    return 'Copying';
  if (d.createTempClaim) return 'Preparing';
  return 'Pending';
}

export function projectVrStatus(
  s: VolumeResizeSnapshot,
  extra: { eventLog?: string; generation?: number; conditions?: readonly VrCondition[] } = {},
): VolumeResizeStatusWire {
  const c = s.context;
  return {
    phase: vrPhaseOf(s),
    conditions: extra.conditions ? [...extra.conditions] : foldConditions([], vrConditionsOf(s), iso(c.now)),
    plan: c.plan.map((p) => ({ ...p })),
    volumeStatuses: c.units.map((u) => ({
      volumeName: u.volume,
      replica: u.replica,
      phase: unitPhase(s, u),
      oldPVCName: u.oldClaim,
      newPVCName: u.tempClaim,
      ...(u.oldPV ? { oldPVName: u.oldPV } : {}),
      ...(u.newPV ? { newPVName: u.newPV } : {}),
      ...(u.usedBytes === undefined ? {} : { usedBytes: u.usedBytes }),
      bytesCopied: u.bytesCopied,
      bytesTotal: u.bytesTotal,
    })),
    ...(c.current?.replica === undefined ? {} : { currentReplica: c.current.replica }),
    ...(c.current?.volume === undefined ? {} : { currentVolume: c.current.volume }),
    message: c.message,
    startTime: iso(c.startTime),
    ...(c.completionTime === undefined ? {} : { completionTime: iso(c.completionTime) }),
    phaseTimingsMs: { ...c.phaseTimings } as Record<string, number>,
    ...(extra.generation === undefined ? {} : { observedGeneration: extra.generation }),
    ...(extra.eventLog === undefined ? {} : { eventLog: extra.eventLog }),
  };
}

/** One resize's status folded from its committed events (an event seen again is skipped). */
export class VrStatusProjection {
  private conditions: VrCondition[] = [];
  private snapshot: VolumeResizeSnapshot | null = null;
  private seq = 0;

  apply(c: Pick<Committed<VolumeResizeSnapshot>, 'event' | 'snapshot'>): boolean {
    if (c.event.seq <= this.seq) return false;
    this.seq = c.event.seq;
    this.snapshot = c.snapshot;
    this.conditions = foldConditions(this.conditions, vrConditionsOf(c.snapshot), c.event.at);
    return true;
  }

  status(extra: { eventLog?: string; generation?: number } = {}): VolumeResizeStatusWire | null {
    return this.snapshot && projectVrStatus(this.snapshot, { ...extra, conditions: this.conditions });
  }
}

/**
 * The status of a resize from its whole log (`ms2m status`, tests); null for an empty log.
 *
 * @example
 * ```ts
 * const status = vrStatusFromLog(await log.read({ kind: 'VolumeResize', id }));
 * ```
 */
export function vrStatusFromLog(
  envelopes: readonly EventEnvelope[],
  extra: { eventLog?: string; generation?: number } = {},
): VolumeResizeStatusWire | null {
  const first = envelopes[0];
  if (!first) return null;
  const events = parseLog(volumeResizeChart, envelopes, first.id);
  const folding = new Fold(volumeResizeChart, first.id, events[0]!);
  const projection = new VrStatusProjection();
  envelopes.forEach((event, i) => {
    if (i > 0) folding.apply(events[i]!);
    projection.apply({ event, snapshot: folding.snapshot });
  });
  return projection.status(extra);
}

/**
 * The status projection as a host observer: folds every committed event and writes only the newest status, once
 * per batch and only when it changed; a failed write is retried by the observer loop (latest state wins).
 */
export function vrStatusObserver(o: {
  write: (status: VolumeResizeStatusWire) => Promise<void>;
  extra?: () => { eventLog?: string; generation?: number };
}): HostObserver<VolumeResizeSnapshot> {
  const projection = new VrStatusProjection();
  let written: string | undefined;
  return {
    name: 'volume-resize-status',
    async observe(batch) {
      for (const c of batch) projection.apply(c);
      const status = projection.status(o.extra?.());
      if (!status) return;
      const text = JSON.stringify(status);
      if (text === written) return;
      await o.write(status);
      written = text;
    },
  };
}

/**
 * The status of every VolumeResize in a log, projected from its events alone (read-only): `ms2m status --log`.
 *
 * @example
 * ```ts
 * for (const r of await vrStatusesFromLog(reader)) console.log(r.id, r.status.phase);
 * ```
 */
export async function vrStatusesFromLog(
  reader: Pick<EventLogReader, 'list' | 'read' | 'locate'>,
): Promise<Array<{ id: string; status: VolumeResizeStatusWire }>> {
  const out: Array<{ id: string; status: VolumeResizeStatusWire }> = [];
  for (const key of await reader.list(VOLUME_RESIZE_KIND)) {
    const status = vrStatusFromLog(await reader.read(key), { eventLog: reader.locate(key) });
    if (status) out.push({ id: key.id, status });
  }
  return out;
}
