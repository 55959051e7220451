/**
 * The analysis charts as Vega-Lite specs (rendered by render.ts, embedded by the UI): stacked median phase times
 * per rate, total time vs rate, downtime vs rate (median with its IQR), and replay depth over time. SHADOW's
 * published runs sit beside ours on the same axes: every data row has a `source` field (`ms2m` or `shadow`).
 */
import type { TopLevelSpec } from 'vega-lite';
import { aggregate } from './aggregate.ts';
import { type AggregateMetric, type AggregateRow, type MigrationRecord, PHASE_KEYS } from './types.ts';

const PHASE_TITLES: Record<(typeof PHASE_KEYS)[number], string> = {
  pending: 'Pending',
  checkpoint: 'Checkpointing',
  transfer: 'Transferring',
  restore: 'Restoring',
  replay: 'Replaying',
  finalize: 'Finalizing',
};

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const FONT = { config: { font: 'sans-serif', view: { stroke: '#ddd' }, legend: { labelLimit: 0 } } };

/** The replay-depth chart draws at most this many migrations (one line each), evenly spaced in run order. */
export const MAX_DEPTH_LINES = 40;

function evenly<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  return Array.from({ length: max }, (_, i) => items[Math.floor((i * items.length) / max)]!);
}

/** Rows of one metric's median and quartiles, in seconds (ms for downtime), one per group that has it. */
function metricRows(rows: readonly AggregateRow[], metric: AggregateMetric, scale: number) {
  return rows
    .filter((r) => r.msgRate !== null && r.stats[metric] !== null)
    .map((r) => {
      const s = r.stats[metric]!;
      return {
        source: r.source,
        configuration: r.configuration,
        msgRate: r.msgRate,
        n: s.n,
        median: s.median / scale,
        q1: s.q1 / scale,
        q3: s.q3 / scale,
        p95: s.p95 / scale,
      };
    });
}

function metricChart(title: string, yTitle: string, values: ReturnType<typeof metricRows>): TopLevelSpec {
  const x = { field: 'msgRate', type: 'quantitative' as const, title: 'message rate (msg/s)' };
  const color = { field: 'configuration', type: 'nominal' as const, title: 'configuration' };
  const dash = { field: 'source', type: 'nominal' as const, title: 'source', scale: { domain: ['ms2m', 'shadow'] } };
  return {
    $schema: SCHEMA,
    title,
    width: 420,
    height: 260,
    data: { values },
    encoding: { x, color },
    layer: [
      {
        mark: { type: 'rule', opacity: 0.5 },
        encoding: {
          y: { field: 'q1', type: 'quantitative', title: yTitle },
          y2: { field: 'q3' },
          strokeDash: dash,
        },
      },
      {
        mark: { type: 'line', point: true },
        encoding: {
          y: { field: 'median', type: 'quantitative', title: yTitle },
          strokeDash: dash,
          shape: { field: 'source', type: 'nominal', title: 'source' },
          tooltip: [
            { field: 'source' },
            { field: 'configuration' },
            { field: 'msgRate', title: 'msg/s' },
            { field: 'n', title: 'runs' },
            { field: 'median', format: '.3f' },
            { field: 'q1', format: '.3f' },
            { field: 'q3', format: '.3f' },
            { field: 'p95', format: '.3f' },
          ],
        },
      },
    ],
    ...FONT,
  } as TopLevelSpec;
}

/**
 * The four charts, keyed `phases`, `total`, `downtime`, `replay-depth`. `aggregates` are ours (and SHADOW's, if
 * already included); `shadow` adds SHADOW's records (aggregated here when `aggregates` holds none of them).
 *
 * @example
 * ```ts
 * const specs = chartSpecs(records, aggregate(records), await readShadowCsv(dir));
 * await writeFile('total.svg', await renderSvg(specs.total));
 * ```
 */
export function chartSpecs(
  records: readonly MigrationRecord[],
  aggregates: readonly AggregateRow[],
  shadow: readonly MigrationRecord[] = [],
): Record<string, TopLevelSpec> {
  const rows = [
    ...aggregates,
    ...(shadow.length > 0 && !aggregates.some((a) => a.source === 'shadow') ? aggregate(shadow) : []),
  ];
  const phaseValues = rows
    .filter((r) => r.msgRate !== null)
    .flatMap((r) =>
      PHASE_KEYS.map((p, order) => ({ p, order, s: r.stats[p] }))
        .filter((x) => x.s !== null)
        .map(({ p, order, s }) => ({
          source: r.source,
          configuration: r.configuration,
          msgRate: r.msgRate,
          phase: PHASE_TITLES[p],
          order,
          seconds: s!.median / 1000,
        })),
    );
  const withDepth = records.filter((r) => r.depth.length > 0);
  const shown = evenly(withDepth, MAX_DEPTH_LINES);
  const depthValues = shown.flatMap((r) =>
    r.depth.map((d) => ({
      source: r.source,
      migration: r.migration,
      configuration: r.configuration ?? 'unknown',
      msgRate: r.msgRate,
      seconds: d.offsetMs / 1000,
      depth: d.depth,
    })),
  );
  return {
    phases: {
      $schema: SCHEMA,
      title: 'Median time per phase by message rate (left bar ms2m, right bar SHADOW)',
      data: { values: phaseValues },
      facet: { column: { field: 'configuration', type: 'nominal', title: null } },
      // each configuration shows its own rates; the seconds axis is shared, so bars compare across them
      resolve: { scale: { x: 'independent', xOffset: 'independent' } },
      spec: {
        width: 220,
        height: 240,
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'msgRate', type: 'ordinal', title: 'message rate (msg/s)' },
          xOffset: { field: 'source', type: 'nominal', scale: { domain: ['ms2m', 'shadow'] } },
          y: { field: 'seconds', type: 'quantitative', aggregate: 'sum', stack: 'zero', title: 'seconds (median)' },
          color: {
            field: 'phase',
            type: 'nominal',
            scale: { domain: PHASE_KEYS.map((p) => PHASE_TITLES[p]) },
            title: 'phase',
          },
          order: { field: 'order', type: 'quantitative' },
          opacity: {
            field: 'source',
            type: 'ordinal',
            scale: { domain: ['ms2m', 'shadow'], range: [1, 0.55] },
            title: 'source',
          },
          tooltip: [
            { field: 'source' },
            { field: 'configuration' },
            { field: 'msgRate', title: 'msg/s' },
            { field: 'phase' },
            { field: 'seconds', aggregate: 'sum', format: '.3f' },
          ],
        },
      },
      ...FONT,
    } as TopLevelSpec,
    total: metricChart(
      'Total migration time vs message rate (median, IQR)',
      'seconds',
      metricRows(rows, 'total', 1000),
    ),
    downtime: metricChart('Downtime vs message rate (median, IQR)', 'downtime (ms)', metricRows(rows, 'downtime', 1)),
    'replay-depth': {
      $schema: SCHEMA,
      title:
        shown.length < withDepth.length
          ? `Replay queue depth over time (from replay start; ${shown.length} of ${withDepth.length} migrations, evenly spaced)`
          : 'Replay queue depth over time (from replay start)',
      width: 420,
      height: 260,
      data: { values: depthValues },
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: { field: 'seconds', type: 'quantitative', title: 'seconds since replay started' },
        y: { field: 'depth', type: 'quantitative', title: 'messages in the replay queue' },
        color: { field: 'configuration', type: 'nominal', title: 'configuration' },
        detail: { field: 'migration', type: 'nominal' },
        tooltip: [
          { field: 'migration' },
          { field: 'msgRate', title: 'msg/s' },
          { field: 'seconds' },
          { field: 'depth' },
        ],
      },
      ...FONT,
    } as TopLevelSpec,
  };
}
