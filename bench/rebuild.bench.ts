// Rebuild after a crash: read 10,000 migrations of ~24 events each from the embedded file log, validate every
// event and fold each migration through the chart (target: <= 3 s, no warm cache). Keys: migrations, events,
// seconds. `seconds` is the default rebuild (the compiled fold, on this thread); `threads_seconds` the same with a
// worker thread per further core (`threads` in all); `xstate_single_thread_seconds` the same work on one thread
// through xstate's transition() (the reference fold, what rebuild did before the compiled fold), in the same run;
// `cached_seconds` reads the log and serves finished migrations from a warm snapshot cache.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { migrationChart } from '../actors/charts/migration.ts';
import { parseLog } from '../actors/event-schema.ts';
import { rebuildAll } from '../actors/rebuild.ts';
import type { EventLog } from '../adapters/event-log/port.ts';
import { openFileLog } from '../adapters/file-log/file-log.ts';
import { fileNameOf } from '../adapters/file-log/jsonl.ts';
import { openFileSnapshotCache } from '../adapters/snapshot-cache/file.ts';
import type { SnapshotCache } from '../adapters/snapshot-cache/port.ts';
import type { EventEnvelope } from '../machines/envelope.ts';
import { fold } from '../machines/fold.ts';
import { scriptedFaults } from '../test/support/faults.ts';
import { runToEnd, scenario } from '../test/support/scenario.ts';

const MIGRATIONS = 10_000;

/** A real migration log of ~30 events: Sequential, with one transient transfer failure and a retry. */
async function templateLog(): Promise<EventEnvelope[]> {
  const s = scenario({
    workload: 'statefulset',
    producerRate: 10,
    consumerRate: 40,
    faults: scriptedFaults([{ op: 'agentSend', nth: 1, outcome: { kind: 'transient' } }]),
  });
  await runToEnd(s);
  return s.log.read(s.key);
}

export async function run(): Promise<Record<string, unknown>> {
  const template = await templateLog();
  const root = await mkdtemp(join(tmpdir(), 'ms2m-bench-rebuild-'));
  try {
    process.stderr.write(`writing ${MIGRATIONS} migrations x ${template.length} events...\n`);
    for (let m = 0; m < MIGRATIONS; m += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, k) => {
          const id = `ns-${(m + k) % 50}/migration-${m + k}`;
          const text = template.map((e) => JSON.stringify({ ...e, id })).join('\n');
          return writeFile(join(root, fileNameOf({ kind: migrationChart.kind, id })), `${text}\n`);
        }),
      );
    }
    const log = await openFileLog({ dir: root, logger: pino({ level: 'silent' }) });
    const timed = async (workers: number | undefined, cache?: SnapshotCache) => {
      process.stderr.write(
        `rebuilding with ${workers ?? 'the default'} worker thread(s)${cache ? ' and the snapshot cache' : ''}...\n`,
      );
      const started = performance.now();
      const rebuilt = await rebuildAll(log, { charts: [migrationChart], workers, cache });
      const seconds = (performance.now() - started) / 1000;
      const completed = rebuilt.filter((m) => m.value === 'Completed').length;
      if (completed !== MIGRATIONS)
        throw new Error(`only ${completed} of ${MIGRATIONS} migrations folded to Completed`);
      return Math.round(seconds * 1000) / 1000;
    };
    const seconds = await timed(undefined);
    const threads = await timed(availableParallelism() - 1);
    const reference = await xstateSingleThread(log);
    // a warm cache: what a restart finds after migrations finished under a host (or one earlier rebuild)
    const cache = await openFileSnapshotCache({ dir: join(root, 'snapshots') });
    await rebuildAll(log, { charts: [migrationChart], cache });
    const cached = await timed(undefined, cache);
    await log.close();
    const events = MIGRATIONS * template.length;
    return {
      migrations: MIGRATIONS,
      events,
      seconds,
      events_per_s: Math.round(events / seconds),
      threads_seconds: threads,
      threads: availableParallelism(),
      xstate_single_thread_seconds: reference,
      cached_seconds: cached,
      target_seconds: 3,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** What `rebuildAll(log, { workers: 0 })` does, with xstate's fold instead of the compiled one. */
async function xstateSingleThread(log: EventLog): Promise<number> {
  process.stderr.write(`rebuilding on one thread through xstate's transition()...\n`);
  const started = performance.now();
  const streams = new Map<string, EventEnvelope[]>();
  for await (const env of log.readAll()) {
    const list = streams.get(env.id);
    if (list) list.push(env);
    else streams.set(env.id, [env]);
  }
  let completed = 0;
  for (const [id, envelopes] of streams) {
    const snapshot = fold(migrationChart, id, parseLog(migrationChart, envelopes, id))!;
    migrationChart.machine.getPersistedSnapshot(snapshot);
    if (snapshot.value === 'Completed') completed++;
  }
  if (completed !== MIGRATIONS) throw new Error(`only ${completed} of ${MIGRATIONS} migrations folded to Completed`);
  return Math.round(performance.now() - started) / 1000;
}
