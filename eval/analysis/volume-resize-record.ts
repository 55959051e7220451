/**
 * Post-hoc analysis of VolumeResizes (`ms2m analyze --kind VolumeResize`): one record per resize, built from its
 * events alone by the same status projection the operator writes (actors/volume-resize-status.ts), and its CSV.
 * Read-only.
 */
import { vrStatusFromLog } from '../../actors/volume-resize-status.ts';
import type { EventLogReader } from '../../adapters/event-log/port.ts';
import { VOLUME_RESIZE_KIND } from '../../machines/volume-resize-chart.ts';
import { timeWindow } from './read-records.ts';
import { cell } from './shadow-csv.ts';
import type { RecordFilters } from './types.ts';

const PHASES = ['Pending', 'Validating', 'Syncing', 'Replacing'] as const;

/** One resize as the analysis sees it. */
export interface VolumeResizeRecord {
  resize: string;
  statefulSet: string;
  /** Completed, Failed, or the phase it was in when the log ends. */
  outcome: string;
  /** Completed, DryRun, ValidationFailed, StepFailed, CopyFailed, DeadlineExceeded, Cancelled; '' while running. */
  reason: string;
  dryRun: boolean;
  rolledBack: boolean;
  /** Exact milliseconds per phase (absent: never entered). */
  phaseMs: Partial<Record<(typeof PHASES)[number], number>>;
  totalMs: number | null;
  /** Claims in the plan (volumes × replicas), and those replaced by a smaller copy. */
  claims: number;
  claimsReplaced: number;
  volumesResized: number;
  replicasResized: number;
  usedBytes: number;
  bytesCopied: number;
  startedAt: string | null;
  endedAt: string | null;
  message: string;
}

/**
 * The record of every VolumeResize in the log (oldest start first), filtered on its start time.
 *
 * @example
 * ```ts
 * const rows = toVolumeResizeCsv(await readVolumeResizeRecords(reader));
 * ```
 */
export async function readVolumeResizeRecords(
  reader: Pick<EventLogReader, 'list' | 'read'>,
  filters: Pick<RecordFilters, 'since' | 'until'> = {},
): Promise<VolumeResizeRecord[]> {
  const keep = timeWindow(filters);
  const out: VolumeResizeRecord[] = [];
  for (const key of await reader.list(VOLUME_RESIZE_KIND)) {
    const envelopes = await reader.read(key);
    const status = vrStatusFromLog(envelopes);
    if (!status) continue;
    const first = envelopes[0]?.data as { spec?: { statefulSetName?: string; dryRun?: boolean } } | undefined;
    const spec = first?.spec ?? {};
    const condition = (type: string) => status.conditions?.find((c) => c.type === type);
    const volumes = status.volumeStatuses ?? [];
    const replaced = volumes.filter((v) => v.phase === 'Replaced');
    const timings = status.phaseTimingsMs ?? {};
    const phaseMs = Object.fromEntries(PHASES.filter((p) => p in timings).map((p) => [p, timings[p] ?? 0]));
    const startedAt = status.startTime ?? envelopes[0]?.at ?? null;
    const endedAt = status.completionTime ?? null;
    const outcome = status.phase ?? 'Pending';
    const record: VolumeResizeRecord = {
      resize: key.id,
      statefulSet: spec.statefulSetName ?? '',
      outcome,
      reason:
        outcome === 'Failed'
          ? (condition('Failed')?.reason ?? '')
          : outcome === 'Completed'
            ? (condition('Ready')?.reason ?? '')
            : '',
      dryRun: spec.dryRun === true,
      rolledBack: condition('RolledBack')?.status === 'True',
      phaseMs,
      totalMs: startedAt && endedAt ? Date.parse(endedAt) - Date.parse(startedAt) : null,
      claims: volumes.length,
      claimsReplaced: replaced.length,
      volumesResized: new Set(replaced.map((v) => v.volumeName)).size,
      replicasResized: new Set(replaced.map((v) => v.replica)).size,
      usedBytes: volumes.reduce((a, v) => a + (v.usedBytes ?? 0), 0),
      bytesCopied: volumes.reduce((a, v) => a + v.bytesCopied, 0),
      startedAt,
      endedAt,
      message: status.message ?? '',
    };
    if (keep(startedAt)) out.push(record);
  }
  const order = (r: VolumeResizeRecord) => `${r.startedAt ?? ''} ${r.resize}`;
  return out.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}

export const VOLUME_RESIZE_COLUMNS = [
  'resize',
  'statefulset',
  'outcome',
  'reason',
  'dry_run',
  'rolled_back',
  'pending_s',
  'validating_s',
  'syncing_s',
  'replacing_s',
  'total_s',
  'claims',
  'claims_replaced',
  'volumes_resized',
  'replicas_resized',
  'used_bytes',
  'bytes_copied',
  'started_at',
  'ended_at',
  'message',
] as const;

const seconds = (ms: number | null | undefined) => (ms === null || ms === undefined ? '' : String(ms / 1000));

/** RFC 4180 CSV, one row per resize: durations are exact milliseconds written as seconds (1234 ms → 1.234). */
export function toVolumeResizeCsv(records: readonly VolumeResizeRecord[]): string {
  const rows = records.map((r) =>
    [
      r.resize,
      r.statefulSet,
      r.outcome,
      r.reason,
      r.dryRun,
      r.rolledBack,
      ...PHASES.map((p) => seconds(r.phaseMs[p])),
      seconds(r.totalMs),
      r.claims,
      r.claimsReplaced,
      r.volumesResized,
      r.replicasResized,
      r.usedBytes,
      r.bytesCopied,
      r.startedAt,
      r.endedAt,
      r.message,
    ]
      .map(cell)
      .join(','),
  );
  return `${[VOLUME_RESIZE_COLUMNS.join(','), ...rows].join('\n')}\n`;
}
