/** Validates and folds a batch of streams, each through the chart of its kind (runs on a rebuild worker, or inline). */
import { fold } from '../machines/fold.ts';
import type { AnyChart } from './chart.ts';
import { parseLog } from './event-schema.ts';
import type { BatchItem, RebuiltStream } from './rebuild.ts';

/**
 * @example
 * ```ts
 * const rebuilt = rebuildBatch(new Map([[migrationChart.kind, migrationChart]]), [['StatefulMigration', id, envelopes]]);
 * ```
 */
export function rebuildBatch(charts: ReadonlyMap<string, AnyChart>, batch: readonly BatchItem[]): RebuiltStream[] {
  return batch.map(([kind, id, envelopes]) => {
    const chart = charts.get(kind);
    if (!chart) throw new Error(`rebuild: no chart of kind ${kind}`);
    const snapshot = fold(chart, id, parseLog(chart, envelopes, id))!;
    const last = envelopes.at(-1)!;
    return {
      kind,
      id,
      lastSeq: last.seq,
      lastAt: last.at,
      status: snapshot.status,
      value: snapshot.value,
      persisted: chart.machine.getPersistedSnapshot(snapshot),
    };
  });
}
