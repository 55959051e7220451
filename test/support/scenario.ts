/**
 * Runs migrations against the fake world on virtual time: the shared fixture of the unit, property and golden
 * tiers. Crash = stop the host (facts in flight are lost) and open a new one on the same log.
 */
import pino from 'pino';
import { MigrationHost, type MigrationHostDeps, migrationChart } from '../../actors/charts/migration.ts';
import { normalizeSpec, type StatefulMigrationSpec } from '../../actors/migration-spec.ts';
import { virtualClock } from '../../adapters/clock/fake.ts';
import type { FaultPlan } from '../../adapters/effect-journal.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import type { StreamKey } from '../../machines/envelope.ts';
import type { MigrationSpec } from '../../machines/spec.ts';
import { createFakeWorld, type FakeWorld, TARGET_NODE } from './fake-world.ts';

export const T0 = Date.parse('2026-03-16T09:00:00.000Z');
export const silent = pino({ level: 'silent' });

export interface ScenarioOptions {
  workload?: 'pod' | 'deployment' | 'statefulset';
  spec?: Partial<StatefulMigrationSpec>;
  faults?: FaultPlan;
  producerRate?: number;
  consumerRate?: number;
  /** Messages queued for the source before the replay queue, and the rate it takes them (FakeBrokerOptions). */
  primaryBacklog?: number;
  sourceRate?: number;
  /** False: the target never switches to its primary queue after END_REPLAY (FakeBrokerOptions). */
  targetSwitches?: boolean;
  failingPods?: Set<string>;
  log?: EventLog;
  maxAttempts?: number;
}

export interface Scenario {
  world: FakeWorld;
  log: EventLog;
  deps: MigrationHostDeps;
  spec: MigrationSpec;
  migrationId: string;
  /** The migration's stream in the log: `(StatefulMigration, migrationId)`. */
  key: StreamKey;
  open: () => Promise<MigrationHost>;
}

export function scenario(opts: ScenarioOptions = {}): Scenario {
  const clock = virtualClock(T0);
  const world = createFakeWorld({
    clock,
    faults: opts.faults,
    producerRate: opts.producerRate,
    consumerRate: opts.consumerRate,
    primaryBacklog: opts.primaryBacklog,
    sourceRate: opts.sourceRate,
    targetSwitches: opts.targetSwitches,
    failingPods: opts.failingPods,
  });
  const sourcePod = world.seed(opts.workload ?? 'pod');
  const log = opts.log ?? createMemoryEventLog();
  const spec = normalizeSpec(
    { namespace: 'default', name: 'm1', uid: 'cr-uid-1' },
    {
      sourcePod,
      targetNode: TARGET_NODE,
      messageQueueConfig: { queueName: 'orders', brokerUrl: 'amqp://127.0.0.1:5672', exchangeName: 'orders' },
      ...opts.spec,
    },
    { maxAttempts: opts.maxAttempts ?? 3, retryBaseMs: 200 },
  );
  const deps: MigrationHostDeps = {
    cluster: world.cluster,
    kubelet: world.kubelet,
    broker: world.broker,
    agents: world.agents,
    clock,
    logger: silent,
    pollMs: 100,
    sampleHeartbeatMs: 1000,
    log,
  };
  const migrationId = 'default/m1';
  const key = { kind: migrationChart.kind, id: migrationId };
  return { world, log, deps, spec, migrationId, key, open: () => MigrationHost.open({ id: migrationId, deps }) };
}

/** Runs one migration to its end without crashes. */
export async function runToEnd(s: Scenario) {
  const host = await s.open();
  await host.request({ spec: s.spec });
  return host.done();
}
