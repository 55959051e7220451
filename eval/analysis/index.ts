/**
 * Post-hoc analysis of migrations from the event log (issue 10): records per migration, SHADOW's CSV (written
 * and read), aggregates per rate × configuration, and charts (Vega-Lite specs, rendered to SVG).
 *
 * @example
 * ```ts
 * import { aggregate, chartSpecs, readRecords, readShadowCsv, renderSvg, toShadowCsv } from '../eval/analysis/index.ts';
 * const records = await readRecords(reader, { labels: { 'ms2m.io/eval-run': 'march' } });
 * const shadow = await readShadowCsv('eval/reference/shadow-eval');
 * const rows = aggregate([...records, ...shadow]);
 * const svg = await renderSvg(chartSpecs(records, rows, shadow).total);
 * ```
 */
export { aggregate, aggregateCsv, metricOf, quantile, stat } from './aggregate.ts';
export { chartSpecs } from './chart-specs.ts';
export {
  EVALUATION_RUN_KIND,
  type MeasuredRun,
  measuredRun,
  RUN_MEASURED,
  type RunMeasurement,
} from './evaluation-run.ts';
export { derivedConfiguration, EVAL_LABELS, MigrationRecordBuilder } from './migration-record.ts';
export {
  parseLabel,
  type ReadOptions,
  type ReadProgress,
  readRecords,
  recordFilter,
  timeWindow,
} from './read-records.ts';
export { renderSvg } from './render.ts';
export { MS2M_COLUMNS, parseShadowCsv, readShadowCsv, SHADOW_COLUMNS, toShadowCsv } from './shadow-csv.ts';
export * from './types.ts';
export {
  readVolumeResizeRecords,
  toVolumeResizeCsv,
  VOLUME_RESIZE_COLUMNS,
  type VolumeResizeRecord,
} from './volume-resize-record.ts';
