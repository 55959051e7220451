/**
 * Rebuild after a restart: every migration in the log folded back to its snapshot. The log is read once,
 * migrations are handed out in batches to worker threads (validation + fold are CPU-bound: one worker per
 * core), and each comes back as a persisted snapshot a host can start from.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EventLog } from '../adapters/event-log/port.ts';
import type { CachedSnapshot, SnapshotCache } from '../adapters/snapshot-cache/port.ts';
import { type EventEnvelope, MACHINE_VERSION } from '../machines/envelope.ts';
import { migrationMachine } from '../machines/migration.ts';

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
  /** Snapshots folded before: used when still exact (see SnapshotCache); finished migrations are added to it. */
  cache?: SnapshotCache;
}

/** Identifies the chart that folded a snapshot: its machineVersion and a hash of its definition. */
export const CHART_FINGERPRINT = createHash('sha256')
  .update(`${MACHINE_VERSION}:${JSON.stringify(migrationMachine.definition)}`)
  .digest('hex')
  .slice(0, 16);

const isExact = (c: CachedSnapshot, last: EventEnvelope) =>
  c.seq === last.seq && c.lastAt === last.at && c.machineVersion === MACHINE_VERSION && c.chart === CHART_FINGERPRINT;

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
  const byId = await groupByMigration(log);
  const cached = opts.cache ? await opts.cache.getMany([...byId.keys()]) : new Map<string, CachedSnapshot>();
  const results: RebuiltMigration[] = [];
  const toFold: Batch = [];
  for (const [id, envelopes] of byId) {
    const c = cached.get(id);
    if (c && isExact(c, envelopes.at(-1)!)) {
      results.push({
        migrationId: id,
        lastSeq: c.seq,
        lastAt: c.lastAt,
        status: c.status,
        value: c.value,
        persisted: c.persisted,
      });
    } else toFold.push([id, envelopes]);
  }
  const folded = await foldAll(toFold, opts);
  results.push(...folded);
  if (opts.cache) {
    const cache = opts.cache;
    const finished = folded.filter((m) => m.status === 'done');
    for (let i = 0; i < finished.length; i += 256) {
      await Promise.all(finished.slice(i, i + 256).map((m) => cache.put(toCacheEntry(m))));
    }
  }
  return results;
}

/** What a host or a rebuild stores for a migration it has folded. */
export function toCacheEntry(m: RebuiltMigration): CachedSnapshot {
  return {
    migrationId: m.migrationId,
    seq: m.lastSeq,
    lastAt: m.lastAt,
    machineVersion: MACHINE_VERSION,
    chart: CHART_FINGERPRINT,
    status: m.status,
    value: m.value,
    persisted: m.persisted,
  };
}

async function foldAll(migrations: Batch, opts: RebuildOptions): Promise<RebuiltMigration[]> {
  const workerCount = Math.min(opts.workers ?? availableParallelism(), Math.ceil(migrations.length / 50));
  const batchSize = opts.batch ?? 250;
  const batches: Batch[] = [];
  for (let i = 0; i < migrations.length; i += batchSize) batches.push(migrations.slice(i, i + batchSize));
  if (workerCount <= 0) {
    const { rebuildBatch } = await import('./rebuild-batch.ts');
    return batches.flatMap(rebuildBatch);
  }
  const workers = Array.from({ length: workerCount }, () => new BatchWorker());
  try {
    const results = await Promise.all(batches.map((batch, i) => workers[i % workers.length]!.run(batch)));
    return results.flat();
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
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

/** Groups the log's stream per migration (streams may interleave migrations). */
async function groupByMigration(log: EventLog): Promise<Map<string, EventEnvelope[]>> {
  const byId = new Map<string, EventEnvelope[]>();
  for await (const env of log.readAll()) {
    const list = byId.get(env.migrationId);
    if (list) list.push(env);
    else byId.set(env.migrationId, [env]);
  }
  return byId;
}
