/**
 * Reads every migration of a log (file or JetStream) into records, in one pass over `readAll()`: each
 * StatefulMigration stream is folded as its events arrive (streams may interleave, each in seq order), each
 * EvaluationRun stream's RunMeasured events are joined to their migration by id. Read-only.
 */

import { InvalidInputError } from '../../adapters/errors.ts';
import type { EventLogReader } from '../../adapters/event-log/port.ts';
import { MIGRATION_KIND } from '../../machines/migration-chart.ts';
import { EVALUATION_RUN_KIND, type MeasuredRun, measuredRun } from './evaluation-run.ts';
import { MigrationRecordBuilder } from './migration-record.ts';
import type { MigrationRecord, RecordFilters } from './types.ts';

/** Progress of a read: events and migrations seen so far. */
export interface ReadProgress {
  events: number;
  migrations: number;
}

export interface ReadOptions {
  /** Called every `progressEvery` events (default 5,000) and once at the end. */
  onProgress?: (p: ReadProgress) => void;
  progressEvery?: number;
}

const timeOf = (t: string | number, what: string): number => {
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) {
    throw new InvalidInputError(
      `Filter ${what}`,
      `${JSON.stringify(t)} is not a time: use ISO 8601, e.g. 2026-03-16T09:00:00Z`,
    );
  }
  return ms;
};

export { parseLabel } from './labels.ts';

/** `--since`/`--until` as a predicate on a start time (a run without one is kept only without a window). */
export function timeWindow(filters: Pick<RecordFilters, 'since' | 'until'> = {}): (at: string | null) => boolean {
  const since = filters.since === undefined ? -Infinity : timeOf(filters.since, 'since');
  const until = filters.until === undefined ? Infinity : timeOf(filters.until, 'until');
  return (at) => {
    if (at === null) return filters.since === undefined && filters.until === undefined;
    const ms = Date.parse(at);
    return ms >= since && ms < until;
  };
}

/** A predicate for the filters (checked once, so a bad time fails before anything is read). */
export function recordFilter(filters: RecordFilters = {}): (r: MigrationRecord) => boolean {
  const inWindow = timeWindow(filters);
  const labels = Object.entries(filters.labels ?? {});
  return (r) => {
    if (!inWindow(r.requestedAt)) return false;
    for (const [k, v] of labels) if (r.labels[k] !== v) return false;
    if (filters.configuration !== undefined && r.configuration !== filters.configuration) return false;
    return true;
  };
}

/**
 * Every migration in the log that matches `filters`, ordered by request time (then id), numbered from 1 in
 * that order (`run`). Throws CorruptEventError (naming the stream and seq) for an event that does not validate.
 *
 * @example
 * ```ts
 * const reader = await openFileLogReader({ dir: '.ms2m/log', logger });
 * const records = await readRecords(reader, { configuration: 'statefulset-shadowpod', labels: { 'ms2m.io/eval-run': 'march' } });
 * await writeFile('results.csv', toShadowCsv(records));
 * ```
 */
export async function readRecords(
  reader: EventLogReader,
  filters: RecordFilters = {},
  opts: ReadOptions = {},
): Promise<MigrationRecord[]> {
  const keep = recordFilter(filters);
  const builders = new Map<string, MigrationRecordBuilder>();
  const runs = new Map<string, MeasuredRun>();
  const every = opts.progressEvery ?? 5000;
  let events = 0;
  for await (const env of reader.readAll()) {
    events++;
    if (env.kind === MIGRATION_KIND) {
      let b = builders.get(env.id);
      if (!b) {
        b = new MigrationRecordBuilder(env.id);
        builders.set(env.id, b);
      }
      b.add(env);
    } else if (env.kind === EVALUATION_RUN_KIND) {
      const run = measuredRun(env);
      // a repeated measurement of the same migration: the last one counts
      if (run) runs.set(run.migrationId, run);
    }
    if (opts.onProgress && events % every === 0) opts.onProgress({ events, migrations: builders.size });
  }
  opts.onProgress?.({ events, migrations: builders.size });
  const records: MigrationRecord[] = [];
  for (const b of builders.values()) {
    const r = b.build(runs.get(b.id) ?? null);
    if (keep(r)) records.push(r);
  }
  records.sort((a, b) =>
    a.requestedAt === b.requestedAt
      ? a.migration < b.migration
        ? -1
        : 1
      : (a.requestedAt ?? '') < (b.requestedAt ?? '')
        ? -1
        : 1,
  );
  records.forEach((r, i) => {
    r.run = i + 1;
  });
  return records;
}
