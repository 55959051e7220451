/**
 * Rebuild after a restart: every migration in the log folded back to its snapshot. The log is read once,
 * migrations are handed out in batches to worker threads (validation + fold are CPU-bound: one worker per
 * core), and each comes back as a persisted snapshot a host can start from.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EventLog } from '../adapters/event-log/port.ts';
import type { EventEnvelope } from '../machines/envelope.ts';

export interface RebuiltMigration {
  migrationId: string;
  lastSeq: number;
  lastAt: string;
  /** `active`, or `done` for Completed/Failed. */
  status: string;
  value: unknown;
  /** The machine's persisted snapshot (JSON), ready for `createActor(machine, { snapshot })`. */
  persisted: unknown;
}

export interface RebuildOptions {
  /** Worker threads (default: one per core). 0 folds on this thread. */
  workers?: number;
  /** Migrations per batch handed to a worker. */
  batch?: number;
}

type Batch = Array<[string, EventEnvelope[]]>;

const workerUrl = new URL(`./rebuild-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

function startWorker(): Worker {
  if (!workerUrl.pathname.endsWith('.ts')) return new Worker(workerUrl);
  // running from TypeScript sources: the worker registers the tsx loader in its own thread first
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(boot, { eval: true });
}

/**
 * @example
 * ```ts
 * const migrations = await rebuildAll(log);
 * for (const m of migrations.filter((m) => m.status === 'active')) startHost(m);
 * ```
 */
export async function rebuildAll(log: EventLog, opts: RebuildOptions = {}): Promise<RebuiltMigration[]> {
  const workerCount = opts.workers ?? availableParallelism();
  const batchSize = opts.batch ?? 250;
  if (workerCount === 0) {
    const { rebuildBatch } = await import('./rebuild-batch.ts');
    const out: RebuiltMigration[] = [];
    for await (const batch of batches(log, batchSize)) out.push(...rebuildBatch(batch));
    return out;
  }
  const workers = Array.from({ length: workerCount }, () => new BatchWorker());
  const results: RebuiltMigration[] = [];
  const pending: Array<Promise<void>> = [];
  let next = 0;
  try {
    for await (const batch of batches(log, batchSize)) {
      const worker = workers[next++ % workers.length]!;
      pending.push(worker.run(batch).then((r) => void results.push(...r)));
    }
    await Promise.all(pending);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}

/** One worker thread with its queue of batches, answered in order by id. */
class BatchWorker {
  private readonly worker = startWorker();
  private readonly waiting = new Map<
    number,
    { resolve: (r: RebuiltMigration[]) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;

  constructor() {
    this.worker.on(
      'message',
      (msg: { id: number; result?: RebuiltMigration[]; error?: { message: string; code?: string } }) => {
        const w = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        if (msg.error) w?.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
        else w?.resolve(msg.result!);
      },
    );
    this.worker.on('error', (err) => {
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    });
  }

  run(batch: Batch): Promise<RebuiltMigration[]> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, batch });
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Groups the log's stream per migration (streams may interleave migrations), then cuts it into batches. */
async function* batches(log: EventLog, size: number): AsyncGenerator<Batch> {
  const byId = new Map<string, EventEnvelope[]>();
  for await (const env of log.readAll()) {
    const list = byId.get(env.migrationId);
    if (list) list.push(env);
    else byId.set(env.migrationId, [env]);
  }
  let batch: Batch = [];
  for (const entry of byId) {
    batch.push(entry);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
