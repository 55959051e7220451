/** Rebuild worker thread: folds the batches actors/rebuild.ts posts to it. */
import { parentPort } from 'node:worker_threads';
import type { EventEnvelope } from '../machines/envelope.ts';
import { rebuildBatch } from './rebuild-batch.ts';

parentPort!.on('message', (msg: { id: number; batch: Array<[string, EventEnvelope[]]> }) => {
  try {
    parentPort!.postMessage({ id: msg.id, result: rebuildBatch(msg.batch) });
  } catch (err) {
    const e = err as Error & { code?: string };
    parentPort!.postMessage({ id: msg.id, error: { message: e.message, code: e.code } });
  }
});
