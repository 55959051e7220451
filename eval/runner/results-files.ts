/**
 * The results of an evaluation as files, rewritten (atomically: temp file, fsync, rename) after every run:
 * `runs.jsonl` (one JSON object per measured run: the `RunMeasured` data plus `run` and `measuredAt`) and
 * `runs.csv` (the same, one row per run, snake_case columns in SHADOW's style). Both are projections of the event
 * log's `EvaluationRun` streams, in run order: a killed eval leaves the last complete version, and the next start
 * writes them again from the log.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../adapters/file-log/atomic-file.ts';
import type { MeasuredRun } from './measured-runs.ts';

export const RESULTS_JSONL = 'runs.jsonl';
export const RESULTS_CSV = 'runs.csv';

export const CSV_COLUMNS = [
  'run',
  'configuration',
  'msg_rate',
  'repetition',
  'outcome',
  'downtime_ms',
  'down_probes',
  'probes',
  'produced',
  'processed',
  'replayed',
  'lost',
  'duplicated',
  'source_node',
  'target_node',
  'processing_delay_ms',
  'migration',
  'measured_at',
  'reason',
] as const;

function csvCell(v: string | number | undefined): string {
  const s = v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One measured run as a CSV row (the columns of {@link CSV_COLUMNS}). */
export function csvRow(r: MeasuredRun): string {
  const m = r.measurement;
  const cells: Record<(typeof CSV_COLUMNS)[number], string | number | undefined> = {
    run: r.run,
    configuration: m.configuration,
    msg_rate: m.msgRate,
    repetition: m.repetition,
    outcome: m.outcome,
    downtime_ms: m.downtimeMs,
    down_probes: m.downProbes,
    probes: m.probes,
    produced: m.produced,
    processed: m.processed,
    replayed: m.replayed,
    lost: m.lost,
    duplicated: m.duplicated,
    source_node: m.sourceNode,
    target_node: m.targetNode,
    processing_delay_ms: m.processingDelayMs,
    migration: m.migration.id,
    measured_at: r.measuredAt,
    reason: m.reason,
  };
  return CSV_COLUMNS.map((c) => csvCell(cells[c])).join(',');
}

/**
 * Writes both files for `runs` (in the order given) into `dir`.
 *
 * @example
 * ```ts
 * await writeResults('.ms2m/eval/e1', [...measured.values()]);
 * ```
 */
export async function writeResults(dir: string, runs: readonly MeasuredRun[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const jsonl = runs.map((r) => JSON.stringify({ run: r.run, ...r.measurement, measuredAt: r.measuredAt })).join('\n');
  await writeFileAtomic(join(dir, RESULTS_JSONL), runs.length ? `${jsonl}\n` : '');
  await writeFileAtomic(join(dir, RESULTS_CSV), `${[CSV_COLUMNS.join(','), ...runs.map(csvRow)].join('\n')}\n`);
}
