// Controller-added latency per transition: from the moment an adapter hands back its fact to the moment that
// fact is in the embedded log (fdatasync'ed) and the chart has taken it (and started the next step's effect).
// Instant fakes, real clock, real file log. Target p50 <= 5 ms, p99 <= 50 ms. Keys: p50_ms, p99_ms.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { MigrationHost, type MigrationHostDeps } from '../actors/charts/migration.ts';
import type { Effect } from '../actors/effects/deps.ts';
import { effects } from '../actors/effects/index.ts';
import { normalizeSpec } from '../actors/migration-spec.ts';
import { systemClock } from '../adapters/clock/system.ts';
import { openFileLog } from '../adapters/file-log/file-log.ts';
import type { Step } from '../machines/events.ts';
import { createFakeWorld, TARGET_NODE } from '../test/support/fake-world.ts';

const MIGRATIONS = 60;

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export async function run(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'ms2m-bench-transition-'));
  const logger = pino({ level: 'silent' });
  const log = await openFileLog({ dir, logger });
  const samples: number[] = [];
  try {
    for (let i = 0; i < MIGRATIONS; i++) {
      const clock = systemClock();
      const world = createFakeWorld({ clock, latencies: 'instant', producerRate: 0, consumerRate: 1000 });
      const workload = (['pod', 'deployment', 'statefulset'] as const)[i % 3]!;
      const sourcePod = world.seed(workload);
      // fact handed back by an adapter -> timestamp; the host's onEvent closes the measurement
      const handedBack = new Map<string, number[]>();
      const mark = (type: string) => handedBack.set(type, [...(handedBack.get(type) ?? []), performance.now()]);
      const timed = Object.fromEntries(
        Object.entries(effects).map(([step, effect]) => [
          step,
          (async (input, env) => {
            const fact = await effect(input, {
              ...env,
              emit: async (f) => {
                mark(f.type);
                await env.emit(f);
              },
            });
            mark(fact.type);
            return fact;
          }) satisfies Effect,
        ]),
      ) as Record<Step, Effect>;
      const deps: MigrationHostDeps = { ...world, logger, log, pollMs: 5, sampleHeartbeatMs: 50 };
      const host = await MigrationHost.open({
        id: `bench/m${i}`,
        deps,
        effects: timed,
        onEvent: (env) => {
          const t0 = handedBack.get(env.type)?.shift();
          if (t0 !== undefined) samples.push(performance.now() - t0);
        },
      });
      const spec = normalizeSpec(
        { namespace: 'default', name: `m${i}`, uid: `u${i}` },
        {
          sourcePod,
          targetNode: TARGET_NODE,
          messageQueueConfig: { queueName: 'q', brokerUrl: 'amqp://127.0.0.1', exchangeName: 'x' },
        },
      );
      await host.request({ spec });
      const final = await host.done();
      if (final.value !== 'Completed') throw new Error(`migration ${i} ended ${String(final.value)}`);
    }
    samples.sort((a, b) => a - b);
    const r = (x: number) => Math.round(x * 1000) / 1000;
    return {
      transitions: samples.length,
      p50_ms: r(quantile(samples, 0.5)),
      p99_ms: r(quantile(samples, 0.99)),
      max_ms: r(samples.at(-1)!),
      target_p50_ms: 5,
      target_p99_ms: 50,
    };
  } finally {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}
