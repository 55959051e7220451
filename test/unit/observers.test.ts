import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MigrationHost } from '../../actors/charts/migration.ts';
import type { Committed, HostObserver } from '../../actors/observers.ts';
import { type MigrationStatus, statusFromLog, statusObserver } from '../../actors/status.ts';
import type { MigrationSnapshot } from '../../machines/migration-chart.ts';
import { runToEnd, type Scenario, scenario } from '../support/scenario.ts';

/** A pino logger whose JSON lines the test reads back. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  return { logger, lines };
}

async function runWith(s: Scenario, observers: HostObserver[]) {
  const host = await MigrationHost.open({ id: s.migrationId, deps: s.deps, observers });
  await host.request({ spec: s.spec });
  const final = await host.done();
  return { host, final };
}

const plain = () => scenario({ workload: 'statefulset', producerRate: 20, consumerRate: 40 });

describe('observers run after the commit, outside the write path', () => {
  it('an observer that always throws changes nothing: the same event log and effects as without it', async () => {
    const without = plain();
    await runToEnd(without);

    const s = plain();
    const { logger, lines } = capturedLogger();
    s.deps.logger = logger;
    let calls = 0;
    const broken: HostObserver = {
      name: 'broken-status',
      observe() {
        calls++;
        throw new Error('PATCH status: 503 Service Unavailable');
      },
    };
    const { host, final } = await runWith(s, [broken]);
    await host.stop();

    expect(final.value).toBe('Completed');
    expect(await s.log.read(s.key)).toEqual(await without.log.read(without.key));
    expect(s.world.journal.entries).toEqual(without.world.journal.entries);
    expect(calls).toBeGreaterThan(1);
    const failures = lines.filter((l) => l.msg === 'Observer failed, retrying');
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toMatchObject({
      id: s.migrationId,
      observer: 'broken-status',
      err: 'PATCH status: 503 Service Unavailable',
      attempt: 1,
      fromSeq: 1,
    });
    // a StepFailed would mean the observer's error reached the migration
    expect((await s.log.read(s.key)).some((e) => e.type === 'StepFailed')).toBe(false);
  });

  it('an observer that rejects its first 3 calls then gets every committed event, in order, once', async () => {
    const s = plain();
    let failuresLeft = 3;
    const delivered: Committed<MigrationSnapshot>[] = [];
    const batches: number[] = [];
    const flaky: HostObserver<MigrationSnapshot> = {
      name: 'flaky',
      async observe(batch) {
        if (failuresLeft-- > 0) throw new Error('Kubernetes API unavailable');
        batches.push(batch.length);
        delivered.push(...batch);
      },
    };
    const { host, final } = await runWith(s, [flaky]);
    await host.idle();
    await host.stop();

    expect(final.value).toBe('Completed');
    const log = await s.log.read(s.key);
    expect(delivered.map((c) => c.event)).toEqual(log);
    expect(delivered.every((c) => c.id === s.migrationId && !c.replayed)).toBe(true);
    // the retry after the failures carried the failed event plus those committed meanwhile, in one call
    expect(batches[0]).toBeGreaterThan(1);
    expect(delivered.at(-1)!.snapshot).toBe(final);
  });

  it('an observer that never answers does not hold the migration back', async () => {
    const s = plain();
    const { host, final } = await runWith(s, [{ name: 'hung', observe: () => new Promise<void>(() => {}) }]);
    expect(final.value).toBe('Completed');
    await host.stop();
    await host.idle();
  });

  it('the status observer writes the final status in the end, although its first writes fail, in fewer writes than events', async () => {
    const s = plain();
    const writes: MigrationStatus[] = [];
    let failuresLeft = 4;
    const status = statusObserver({
      async write(id, st) {
        expect(id).toBe(s.migrationId);
        if (failuresLeft-- > 0) throw new Error('etcdserver: request timed out');
        writes.push(st);
      },
      extra: () => ({ eventLog: 'memory:default/m1', generation: 2 }),
    });
    const { host } = await runWith(s, [status]);
    await host.idle();
    await host.stop();

    const log = await s.log.read(s.key);
    expect(writes.at(-1)).toEqual(statusFromLog(log, { eventLog: 'memory:default/m1', generation: 2 }));
    expect(writes.at(-1)!.phase).toBe('Completed');
    expect(writes.length).toBeLessThan(log.length);
  });

  it('a host opened on an existing log gives its observers the history first, marked replayed', async () => {
    const s = plain();
    const final = await runToEnd(s);
    const seen: Committed<MigrationSnapshot>[] = [];
    const host = await MigrationHost.open({
      id: s.migrationId,
      deps: s.deps,
      observers: [{ name: 'ui', observe: (batch) => void seen.push(...batch) }],
    });
    await host.idle();
    const log = await s.log.read(s.key);
    expect(seen.map((c) => c.event)).toEqual(log);
    expect(seen.every((c) => c.replayed)).toBe(true);
    expect({ value: seen.at(-1)!.snapshot.value, context: seen.at(-1)!.snapshot.context }).toEqual({
      value: final.value,
      context: final.context,
    });
    await host.stop();
  });
});
