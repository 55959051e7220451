/** Validates and folds a batch of streams, each through the chart of its kind (runs on a rebuild worker, or inline). */
import { fastFold } from '../machines/fast-fold.ts';
import type { AnyChart } from './chart.ts';
import { parseLog } from './event-schema.ts';
import type { BatchItem, RebuiltStream } from './rebuild.ts';

/**
 * Folds with the compiled fold (machines/fast-fold.ts), which gives exactly what xstate's fold gives (the
 * fast-fold differential tests) and falls back to it for a chart or an event it cannot take.
 *
 * @example
 * ```ts
 * const rebuilt = rebuildBatch(new Map([[migrationChart.kind, migrationChart]]), [['StatefulMigration', id, envelopes]]);
 * ```
 */
export function rebuildBatch(charts: ReadonlyMap<string, AnyChart>, batch: readonly BatchItem[]): RebuiltStream[] {
  return batch.map(([kind, id, envelopes]) => {
    const chart = charts.get(kind);
    if (!chart) throw new Error(`rebuild: no chart of kind ${kind}`);
    const folded = fastFold(chart, id, parseLog(chart, envelopes, id))!;
    const last = envelopes.at(-1)!;
    return {
      kind,
      id,
      lastSeq: last.seq,
      lastAt: last.at,
      status: folded.status,
      value: folded.value,
      persisted: folded.persisted(),
    };
  });
}
