/**
 * The UI's evaluation page: the aggregate charts of the analysis (eval/analysis: records from the log, aggregates
 * per rate × configuration, Vega-Lite specs), optionally beside SHADOW's published runs. The page draws the
 * specs in the browser with the bundled vega-embed.
 */
import type { EventLogReader } from '../../adapters/event-log/port.ts';
import { aggregate, chartSpecs, type MigrationRecord, readRecords, readShadowCsv } from '../analysis/index.ts';
import type { EvaluationCharts } from './api.ts';

export interface EvaluationSource {
  reader: EventLogReader;
  /** SHADOW's CSVs (a file or a directory of them), drawn beside ours. */
  shadow?: string;
  /** How long one analysis is reused (ms, default 5000): the page may be reloaded often, the log read is whole. */
  reuseMs?: number;
  now?: () => number;
}

/**
 * A function that answers the evaluation page from the log (read-only), reusing its last answer for `reuseMs`.
 *
 * @example
 * ```ts
 * const ui = await startUiServer({ ..., evaluation: evaluationCharts({ reader, shadow: 'eval/reference/shadow-eval' }) });
 * ```
 */
export function evaluationCharts(src: EvaluationSource): () => Promise<EvaluationCharts> {
  const now = src.now ?? Date.now;
  let last: { at: number; answer: Promise<EvaluationCharts> } | null = null;
  let shadow: Promise<MigrationRecord[]> | null = null;
  const build = async (): Promise<EvaluationCharts> => {
    shadow ??= src.shadow ? readShadowCsv(src.shadow) : Promise.resolve([]);
    const [records, theirs] = await Promise.all([readRecords(src.reader), shadow]);
    const title = 'Evaluation';
    if (records.length === 0 && theirs.length === 0)
      return { title, note: 'No migrations in this log yet: run ms2m eval, or point ms2m ui at its log.', charts: [] };
    const specs = chartSpecs(records, aggregate(records), theirs);
    const measured = records.filter((r) => r.msgRate !== null).length;
    return {
      title,
      note: `${records.length} migrations in the log (${measured} with a message rate)${theirs.length > 0 ? `, ${theirs.length} SHADOW runs beside them` : ''}`,
      charts: Object.entries(specs).map(([key, spec]) => ({
        title: typeof spec.title === 'string' ? spec.title : key,
        spec: { ...spec, title: undefined },
      })),
    };
  };
  return () => {
    if (!last || now() - last.at > (src.reuseMs ?? 5000)) {
      const answer = build();
      last = { at: now(), answer };
      // a failed analysis is not reused
      answer.catch(() => {
        if (last?.answer === answer) last = null;
      });
    }
    return last.answer;
  };
}
