/**
 * The text summary `ms2m analyze` prints: one line per source × configuration × rate with the medians (and IQR,
 * p95) of the total time and the downtime, in SHADOW's duration format.
 */
import { goDuration } from '../../actors/go-duration.ts';
import type { AggregateRow, Stat } from './types.ts';

const d = (s: Stat | null): string => (s === null ? '-' : goDuration(s.median));
const spread = (s: Stat | null): string => (s === null ? '-' : `${goDuration(s.iqr)}/${goDuration(s.p95)}`);
const ms = (s: Stat | null): string => (s === null ? '-' : `${Math.round(s.median)}ms`);

/**
 * @example
 * ```ts
 * io.stdout.write(`${summaryTable(aggregate(records))}\n`);
 * ```
 */
export function summaryTable(rows: readonly AggregateRow[]): string {
  const header = ['SOURCE', 'CONFIGURATION', 'RATE', 'RUNS', 'OK', 'FAILED', 'TOTAL', 'IQR/P95', 'REPLAY', 'DOWNTIME'];
  const table = rows.map((r) => [
    r.source,
    r.configuration,
    r.msgRate === null ? '-' : String(r.msgRate),
    String(r.runs),
    String(r.completed),
    String(r.failed),
    d(r.stats.total),
    spread(r.stats.total),
    d(r.stats.replay),
    ms(r.stats.downtime),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  return [header, ...table]
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
