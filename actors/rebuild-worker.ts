/** Rebuild worker thread: folds the batches actors/rebuild.ts posts to it, importing each chart from its module. */
import { parentPort } from 'node:worker_threads';
import { type AnyChart, chartFingerprint } from './chart.ts';
import type { BatchItem, ChartRef } from './rebuild.ts';
import { rebuildBatch } from './rebuild-batch.ts';

const charts = new Map<string, Promise<AnyChart>>();

/** The chart `ref` names, imported once; it must be the very chart the parent folds with (same fingerprint). */
function load(ref: ChartRef): Promise<AnyChart> {
  let chart = charts.get(ref.kind);
  if (!chart) {
    chart = import(ref.url).then((mod: Record<string, AnyChart | undefined>) => {
      const c = mod[ref.name];
      if (!c || c.kind !== ref.kind || chartFingerprint(c) !== ref.fingerprint) {
        throw new Error(
          `rebuild worker: ${ref.url} exports no chart ${ref.name} of kind ${ref.kind} as the parent has`,
        );
      }
      return c;
    });
    charts.set(ref.kind, chart);
  }
  return chart;
}

parentPort!.on('message', (msg: { id: number; charts: ChartRef[]; batch: BatchItem[] }) => {
  Promise.all(msg.charts.map(async (ref) => [ref.kind, await load(ref)] as const))
    .then((loaded) => parentPort!.postMessage({ id: msg.id, result: rebuildBatch(new Map(loaded), msg.batch) }))
    .catch((err: Error & { code?: string; details?: Record<string, unknown> }) => {
      parentPort!.postMessage({ id: msg.id, error: { message: err.message, code: err.code, details: err.details } });
    });
});
