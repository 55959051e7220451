import { describe, expect, it } from 'vitest';
import { MigrationHost, migrationChart } from '../../actors/charts/migration.ts';
import { HostGroup } from '../../actors/host-group.ts';
import { normalizeSpec } from '../../actors/migration-spec.ts';
import type { HostObserver } from '../../actors/observers.ts';
import { virtualClock } from '../../adapters/clock/fake.ts';
import { ErrorCode } from '../../adapters/errors.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { type EventLog, EventLogUnavailableError } from '../../adapters/event-log/port.ts';
import { FakeLeaseStore, fakeLease } from '../../adapters/lease/fake.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';
import { DEFAULT_PHASE_DEADLINES } from '../../machines/spec.ts';
import { createFakeWorld, TARGET_NODE } from '../support/fake-world.ts';
import { scenario, silent, T0 } from '../support/scenario.ts';

/** A log whose appends can be made to fail (an outage) or to hang until released, counting every call. */
function controllableLog(inner: EventLog) {
  const state = {
    calls: 0,
    /** Appends fail with a transient error while true. */
    down: false,
    /** The next append waits for this before it reaches the log. */
    gate: undefined as Promise<void> | undefined,
    /** Called when an append starts (after counting). */
    onAppend: undefined as ((event: { type: string }) => void) | undefined,
  };
  const log: EventLog = {
    async append(key, event, expectSeq) {
      state.calls++;
      state.onAppend?.(event);
      if (state.down) throw new EventLogUnavailableError('injected outage');
      const gate = state.gate;
      state.gate = undefined;
      if (gate) await gate;
      return inner.append(key, event, expectSeq);
    },
    read: (key, from) => inner.read(key, from),
    readAll: () => inner.readAll(),
    list: (kind) => inner.list(kind),
    watch: (o) => inner.watch(o),
    locate: (key) => inner.locate(key),
    close: () => inner.close(),
  };
  return { log, state };
}

const nextMacrotask = () => new Promise<void>((r) => setImmediate(r));

describe('stop() is a stop: no append after it resolves', () => {
  it('stopped during the append retry sleep, the host sends nothing more although the log is back', async () => {
    const s = scenario();
    const { log, state } = controllableLog(s.log);
    const host = await MigrationHost.open({ id: s.migrationId, deps: { ...s.deps, log } });
    const failed = new Promise<void>((resolve) => {
      state.onAppend = (e) => {
        if (e.type === 'CheckpointCreated') state.down = true;
        if (state.down) resolve();
      };
    });
    await host.request({ spec: s.spec });
    await failed; // the append failed; the host now sleeps before its retry
    state.down = false; // a retry would succeed from now on
    const callsAtStop = state.calls;
    const storedAtStop = (await s.log.read(s.key)).length;

    await host.stop();
    // hours of virtual time pass: every sleeper of the old host would have woken by now
    await s.deps.clock.sleepUntil(s.deps.clock.now() + 3_600_000);

    expect(state.calls).toBe(callsAtStop);
    expect(await s.log.read(s.key)).toHaveLength(storedAtStop);
    expect((await s.log.read(s.key)).map((e) => e.type)).not.toContain('CheckpointCreated');
    expect(host.isStopped).toBe(true);
    await expect(host.done()).rejects.toMatchObject({ code: ErrorCode.HOST_STOPPED });
    await expect(host.cancel('too late')).rejects.toMatchObject({ code: ErrorCode.HOST_STOPPED });
  });

  it('stop() resolves only once the append already sent has answered, and applies nothing of it', async () => {
    const s = scenario();
    const { log, state } = controllableLog(s.log);
    const host = await MigrationHost.open({ id: s.migrationId, deps: { ...s.deps, log } });
    let release!: () => void;
    const inFlight = new Promise<void>((resolve) => {
      state.onAppend = (e) => {
        if (e.type !== 'CheckpointCreated') return;
        state.gate = new Promise<void>((r) => {
          release = r;
        });
        resolve();
      };
    });
    await host.request({ spec: s.spec });
    await inFlight;
    const before = host.snapshot();
    let stopped = false;
    const stopping = host.stop().then(() => {
      stopped = true;
    });
    await nextMacrotask();
    expect(stopped).toBe(false); // the append is still out there

    release();
    await stopping;
    const callsAtStop = state.calls;
    await s.deps.clock.sleepUntil(s.deps.clock.now() + 3_600_000);
    const types = (await s.log.read(s.key)).map((e) => e.type);
    expect(types.at(-1)).toBe('CheckpointCreated'); // committed: the log is the truth, a new leader folds it
    expect(state.calls).toBe(callsAtStop);
    // this host never applied it: its (stopped) actor is where it was
    expect({ value: host.snapshot()?.value, context: host.snapshot()?.context }).toEqual({
      value: before?.value,
      context: before?.context,
    });
  });
});

describe('HostGroup: losing the leader lease stops every host at once', () => {
  function threeMigrations() {
    const clock = virtualClock(T0);
    const world = createFakeWorld({ clock });
    const pods = [world.seed('pod'), world.seed('deployment'), world.seed('statefulset')];
    const log = createMemoryEventLog();
    const specs = pods.map((sourcePod, i) =>
      normalizeSpec(
        { namespace: 'default', name: `m${i + 1}`, uid: `cr-uid-${i + 1}` },
        {
          sourcePod,
          targetNode: TARGET_NODE,
          messageQueueConfig: { queueName: `q${i + 1}`, brokerUrl: 'amqp://127.0.0.1:5672', exchangeName: `x${i + 1}` },
          // a day: the hour without a leader below must not exceed a phase deadline (a deadline counts wall
          // time, leader or not, so the next term would fail a migration whose deadline passed meanwhile)
          phaseDeadlines: Object.fromEntries(
            Object.keys(DEFAULT_PHASE_DEADLINES).map((phase) => [phase, 86_400]),
          ) as typeof DEFAULT_PHASE_DEADLINES,
        },
      ),
    );
    const deps = { ...world, logger: silent, log, pollMs: 100, sampleHeartbeatMs: 1000 };
    return { clock, world, log, specs, deps };
  }

  it('every host halts in the same turn; none appends after stopAll resolves; the group opens no more', async () => {
    const { clock, log, specs, deps } = threeMigrations();
    const store = new FakeLeaseStore();
    const leader = fakeLease({ store, holder: 'operator-a', clock, ttlMs: 15_000 });
    const successor = fakeLease({ store, holder: 'operator-b', clock, ttlMs: 15_000 });
    expect(await leader.acquire()).toBe(true);

    let lost!: () => void;
    const leaseLost = new Promise<void>((r) => {
      lost = r;
    });
    // the lease expires and operator-b takes it while the first migration is Transferring
    const takeover: HostObserver = {
      name: 'takeover',
      async observe(batch) {
        if (!batch.some((c) => c.event.type === 'CheckpointCreated') || store.holder !== 'operator-a') return;
        store.expiresAt = clock.now();
        await successor.acquire();
      },
    };
    const group = new HostGroup({ chart: migrationChart, deps, observers: [takeover] });
    group.stopOnLoss(leader);
    const hosts = await Promise.all(specs.map((spec) => group.open(`default/${spec.name}`)));
    let haltedTogether: boolean[] = [];
    let activeAtLoss: boolean[] = [];
    leader.onLost(() => {
      haltedTogether = hosts.map((h) => h.isStopped);
      activeAtLoss = hosts.map((h) => h.snapshot()?.context.completionTime === undefined);
      lost();
    });
    await Promise.all(hosts.map((h, i) => h.request({ spec: specs[i]! })));

    await leaseLost;
    expect(haltedTogether).toEqual([true, true, true]);
    expect(activeAtLoss).toEqual([true, true, true]);
    await group.stopAll('again: idempotent');
    const stored = log.snapshot().length;
    await clock.sleepUntil(clock.now() + 3_600_000);
    expect(log.snapshot()).toHaveLength(stored);
    for (const h of hosts) await expect(h.done()).rejects.toMatchObject({ code: ErrorCode.HOST_STOPPED });
    await expect(group.open('default/m4')).rejects.toMatchObject({ code: ErrorCode.HOST_STOPPED });

    // the next term (operator-b's group) resumes them from the log and completes them
    const next = new HostGroup({ chart: migrationChart, deps });
    const finals = await Promise.all(specs.map(async (spec) => (await next.open(`default/${spec.name}`)).done()));
    expect(finals.map((f) => f.value)).toEqual(['Completed', 'Completed', 'Completed']);
    const perMigration = (id: string) => log.snapshot().filter((e: EventEnvelope) => e.id === id);
    for (const spec of specs) {
      const seqs = perMigration(`default/${spec.name}`).map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
    await next.stopAll('test over');
  });

  it('a host still opening when the group stops never starts', async () => {
    const { specs, deps, log } = threeMigrations();
    const first = new HostGroup({ chart: migrationChart, deps });
    const h = await first.open('default/m1');
    await h.request({ spec: specs[0]! });
    await h.stop();
    const stored = log.snapshot().length;

    const group = new HostGroup({ chart: migrationChart, deps });
    const opening = group.open('default/m1');
    const stopped = group.stopAll('lease lost while opening');
    await expect(opening).rejects.toMatchObject({ code: ErrorCode.HOST_STOPPED });
    await stopped;
    await deps.clock.sleepUntil(deps.clock.now() + 3_600_000);
    expect(log.snapshot()).toHaveLength(stored);
  });
});
