/**
 * Rebuild after a restart: every stream in the log folded back to its snapshot, each through the chart of its
 * kind. The log is read once, streams are folded in batches on this thread and on worker threads if asked for
 * (a worker imports a chart from its `module`), and each comes back as a persisted snapshot a host can start
 * from. The fold is the compiled one (machines/fast-fold.ts), equal to xstate's at every event.
 */
import { Worker } from 'node:worker_threads';
import { CorruptEventError, type EventLog } from '../adapters/event-log/port.ts';
import type { CachedSnapshot, SnapshotCache } from '../adapters/snapshot-cache/port.ts';
import type { EventEnvelope } from '../machines/envelope.ts';
import { type AnyChart, chartFingerprint } from './chart.ts';

export interface RebuiltStream {
  kind: string;
  id: string;
  lastSeq: number;
  lastAt: string;
  /** `active`, or `done` for a finished instance (a final state). */
  status: string;
  value: unknown;
  /** The machine's persisted snapshot (JSON), ready for `createActor(machine, { snapshot })`. */
  persisted: unknown;
}

export interface RebuildOptions {
  /** The charts of the kinds the log holds; a stream of any other kind fails the rebuild (a newer build wrote it). */
  charts: readonly AnyChart[];
  /**
   * Worker threads besides this one, which folds too; charts without a `module` fold here. Default 0: with the
   * compiled fold, handing an event to a worker and its snapshot back (structured clone, ~5 µs per event) costs
   * about what folding it does, so workers pay only on idle cores (docs/benchmarks.md, rebuild).
   */
  workers?: number;
  /** Streams per batch handed to a worker. */
  batch?: number;
  /** Snapshots folded before: used when still exact (see SnapshotCache); finished instances are added to it. */
  cache?: SnapshotCache;
}

/** One stream to fold: its kind, id and events. */
export type BatchItem = [kind: string, id: string, envelopes: EventEnvelope[]];

/** How a worker finds a chart: the module to import, its export, and the fingerprint it must have. */
export interface ChartRef {
  kind: string;
  url: string;
  name: string;
  fingerprint: string;
}

const isExact = (chart: AnyChart, c: CachedSnapshot, last: EventEnvelope) =>
  c.seq === last.seq &&
  c.lastAt === last.at &&
  c.kind === chart.kind &&
  c.machineVersion === chart.version &&
  c.chart === chartFingerprint(chart);

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
 * const rebuilt = await rebuildAll(log, { charts: [migrationChart] });
 * for (const m of rebuilt.filter((m) => m.status === 'active')) startHost(m);
 * ```
 */
export async function rebuildAll(log: EventLog, opts: RebuildOptions): Promise<RebuiltStream[]> {
  const charts = new Map(opts.charts.map((c) => [c.kind, c]));
  const byKind = await groupByStream(log);
  const results: RebuiltStream[] = [];
  const toFold: BatchItem[] = [];
  for (const [kind, streams] of byKind) {
    const chart = charts.get(kind);
    if (!chart) {
      const [id, envelopes] = streams.entries().next().value as [string, EventEnvelope[]];
      throw new CorruptEventError({ kind, id }, envelopes[0]?.seq, `no chart of kind ${kind} is known here`, {
        fix: `upgrade ms2m to a build that knows ${kind} (or pass its chart to rebuildAll)`,
      });
    }
    const cached = opts.cache ? await opts.cache.getMany(kind, [...streams.keys()]) : new Map();
    for (const [id, envelopes] of streams) {
      const c = cached.get(id);
      if (c && isExact(chart, c, envelopes.at(-1)!)) {
        results.push({
          kind,
          id,
          lastSeq: c.seq,
          lastAt: c.lastAt,
          status: c.status,
          value: c.value,
          persisted: c.persisted,
        });
      } else toFold.push([kind, id, envelopes]);
    }
  }
  const folded = await foldAll(toFold, charts, opts);
  results.push(...folded);
  if (opts.cache) {
    const cache = opts.cache;
    const finished = folded.filter((m) => m.status === 'done');
    for (let i = 0; i < finished.length; i += 256) {
      await Promise.all(finished.slice(i, i + 256).map((m) => cache.put(toCacheEntry(charts.get(m.kind)!, m))));
    }
  }
  return results;
}

/** What a host or a rebuild stores for a stream it has folded with `chart`. */
export function toCacheEntry(chart: AnyChart, m: RebuiltStream): CachedSnapshot {
  return {
    kind: m.kind,
    id: m.id,
    seq: m.lastSeq,
    lastAt: m.lastAt,
    machineVersion: chart.version,
    chart: chartFingerprint(chart),
    status: m.status,
    value: m.value,
    persisted: m.persisted,
  };
}

/**
 * Folds `streams`: batches of streams whose chart has a `module` go to a shared queue served by the worker
 * threads and by this thread, the rest fold here. Each worker is handed its first two batches before this thread
 * takes any (so a small log still goes through the workers), then every thread pulls the next batch when it is
 * free: this thread folds while the workers boot, and a worker joins as soon as it is up.
 */
async function foldAll(
  streams: BatchItem[],
  charts: ReadonlyMap<string, AnyChart>,
  opts: RebuildOptions,
): Promise<RebuiltStream[]> {
  const batchSize = opts.batch ?? 250;
  const batches = (items: BatchItem[]) => {
    const out: BatchItem[][] = [];
    for (let i = 0; i < items.length; i += batchSize) out.push(items.slice(i, i + batchSize));
    return out;
  };
  const inline = batches(streams.filter(([kind]) => !charts.get(kind)?.module));
  const threaded = batches(streams.filter(([kind]) => charts.get(kind)?.module));
  const workerCount = Math.min(opts.workers ?? 0, Math.ceil(threaded.reduce((n, b) => n + b.length, 0) / 50));
  const { rebuildBatch } = await import('./rebuild-batch.ts');
  if (workerCount <= 0) return batches(streams).flatMap((b) => rebuildBatch(charts, b));
  const refs: ChartRef[] = [...charts.values()].flatMap((c) =>
    c.module ? [{ kind: c.kind, url: c.module.url, name: c.module.name, fingerprint: chartFingerprint(c) }] : [],
  );
  const workers = Array.from({ length: workerCount }, () => new BatchWorker(refs));
  const queue = threaded.map((batch, i) => ({ batch, i }));
  const results: RebuiltStream[][] = [];
  let failed = false;
  const onWorker = async (w: BatchWorker) => {
    for (let next = queue.shift(); next && !failed; next = queue.shift()) results[next.i] = await w.run(next.batch);
  };
  const onThisThread = async () => {
    for (let next = queue.shift(); next && !failed; next = queue.shift()) {
      results[next.i] = rebuildBatch(charts, next.batch);
      await new Promise<void>((resolve) => setImmediate(resolve)); // let the workers' answers in
    }
  };
  try {
    // two batches in flight per worker: it never waits for this thread to read its answer and send the next
    await Promise.all([...workers.flatMap((w) => [onWorker(w), onWorker(w)]), onThisThread()]);
    return [...results.flat(), ...inline.flatMap((b) => rebuildBatch(charts, b))];
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** One worker thread with its queue of batches, answered in order by id. */
class BatchWorker {
  private readonly worker = startWorker();
  private readonly waiting = new Map<number, { resolve: (r: RebuiltStream[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  constructor(private readonly charts: readonly ChartRef[]) {
    this.worker.on(
      'message',
      (msg: {
        id: number;
        result?: RebuiltStream[];
        error?: { message: string; code?: string; details?: Record<string, unknown> };
      }) => {
        const w = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        if (msg.error) {
          w?.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code, details: msg.error.details }));
        } else w?.resolve(msg.result!);
      },
    );
    this.worker.on('error', (err) => {
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    });
  }

  run(batch: BatchItem[]): Promise<RebuiltStream[]> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, charts: this.charts, batch });
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Groups the log's stream per kind and id (streams may interleave). */
async function groupByStream(log: EventLog): Promise<Map<string, Map<string, EventEnvelope[]>>> {
  const byKind = new Map<string, Map<string, EventEnvelope[]>>();
  for await (const env of log.readAll()) {
    let streams = byKind.get(env.kind);
    if (!streams) {
      streams = new Map();
      byKind.set(env.kind, streams);
    }
    const list = streams.get(env.id);
    if (list) list.push(env);
    else streams.set(env.id, [env]);
  }
  return byKind;
}
