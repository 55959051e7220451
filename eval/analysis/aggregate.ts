/**
 * Aggregates per source × configuration × message rate: counts, and for each metric (total, each phase,
 * downtime) the median, quartiles, IQR and p95 over the group's completed runs. Quantiles are type 7 (linear
 * between order statistics: numpy's and R's default), so they can be checked against either.
 */
import {
  AGGREGATE_METRICS,
  type AggregateMetric,
  type AggregateRow,
  type MigrationRecord,
  type Stat,
} from './types.ts';

/**
 * The q-quantile (0..1) of ascending `sorted` values, type 7.
 *
 * @example
 * ```ts
 * quantile([1, 2, 3, 4], 0.5); // 2.5
 * ```
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of no values');
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Median, quartiles, IQR and p95 of `values` (null for none). */
export function stat(values: readonly number[]): Stat | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const q1 = quantile(s, 0.25);
  const q3 = quantile(s, 0.75);
  return { n: s.length, median: quantile(s, 0.5), q1, q3, iqr: q3 - q1, p95: quantile(s, 0.95) };
}

/** A record's value of one metric, ms (null when unknown). */
export function metricOf(r: MigrationRecord, m: AggregateMetric): number | null {
  if (m === 'total') return r.totalMs;
  if (m === 'downtime') return r.downtimeMs;
  return r.phases[m];
}

const groupKey = (r: MigrationRecord) => JSON.stringify([r.source, r.configuration ?? '', r.msgRate]);

/**
 * One row per source × configuration × rate, sorted by source (ms2m first), configuration, then rate.
 * Runs without a configuration are grouped under `unknown`.
 *
 * @example
 * ```ts
 * const rows = aggregate([...records, ...(await readShadowCsv(dir))]);
 * rows[0].stats.total?.median; // ms
 * ```
 */
export function aggregate(records: readonly MigrationRecord[]): AggregateRow[] {
  const groups = new Map<string, MigrationRecord[]>();
  for (const r of records) {
    const k = groupKey(r);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const rows: AggregateRow[] = [];
  for (const g of groups.values()) {
    const first = g[0]!;
    const completed = g.filter((r) => r.status === 'Completed');
    const stats = {} as Record<AggregateMetric, Stat | null>;
    for (const m of AGGREGATE_METRICS) {
      stats[m] = stat(completed.map((r) => metricOf(r, m)).filter((v): v is number => v !== null));
    }
    rows.push({
      source: first.source,
      configuration: first.configuration ?? 'unknown',
      msgRate: first.msgRate,
      runs: g.length,
      completed: completed.length,
      failed: g.filter((r) => r.status === 'Failed').length,
      stats,
    });
  }
  const order = (s: string) => (s === 'ms2m' ? 0 : 1);
  return rows.sort(
    (a, b) =>
      order(a.source) - order(b.source) ||
      (a.configuration < b.configuration ? -1 : a.configuration > b.configuration ? 1 : 0) ||
      (a.msgRate ?? -1) - (b.msgRate ?? -1),
  );
}

const STAT_KEYS = ['median', 'q1', 'q3', 'iqr', 'p95'] as const;

/** Round to the microsecond, so the CSV shows no float noise. */
const fmt = (v: number | undefined): string => (v === undefined ? '' : String(Math.round(v * 1000) / 1000));

/**
 * The aggregate as CSV: `source,configuration,msg_rate,runs,completed,failed`, then for each metric
 * `<metric>_n` and `<metric>_{median,q1,q3,iqr,p95}_ms`.
 */
export function aggregateCsv(rows: readonly AggregateRow[]): string {
  const header = ['source', 'configuration', 'msg_rate', 'runs', 'completed', 'failed'];
  for (const m of AGGREGATE_METRICS) header.push(`${m}_n`, ...STAT_KEYS.map((k) => `${m}_${k}_ms`));
  const lines = [header.join(',')];
  for (const r of rows) {
    const cells = [r.source, r.configuration, r.msgRate ?? '', r.runs, r.completed, r.failed].map(String);
    for (const m of AGGREGATE_METRICS) {
      const s = r.stats[m];
      cells.push(String(s?.n ?? 0), ...STAT_KEYS.map((k) => fmt(s?.[k])));
    }
    lines.push(cells.map((c) => (/[",\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c)).join(','));
  }
  return `${lines.join('\n')}\n`;
}
