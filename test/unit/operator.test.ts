/**
 * The StatefulMigration operator (actors/controller/operator.ts on the shared controller loop,
 * resource-controller.ts) over fakes: an in-memory resource client, the fake world's cluster/kubelet/broker/agents
 * and a fake lease. The controlplane tier runs the same paths on a real API server; this one is fast.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createOperatorMetrics } from '../../actors/controller/metrics.ts';
import type { MigrationClient } from '../../actors/controller/migration-observers.ts';
import { createOperator, FINALIZER, type OperatorDeps } from '../../actors/controller/operator.ts';
import type { LeaderTask } from '../../actors/controller/resource-controller.ts';
import type { StatefulMigrationSpecInput, StatefulMigrationStatusWire } from '../../actors/crd/stateful-migration.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { FakeLeaseStore, fakeLease } from '../../adapters/lease/fake.ts';
import { eventually } from '../support/eventually.ts';
import { createFakeWorld, TARGET_NODE } from '../support/fake-world.ts';
import { MemoryResources } from '../support/memory-resources.ts';

const silent = pino({ level: process.env.OPERATOR_TEST_LOG ?? 'silent' });

const waitFor = (what: string, cond: () => boolean, ms = 15_000) =>
  eventually(what, async () => (cond() ? true : undefined), ms);

function setup(extra: Partial<OperatorDeps> = {}, latencies: 'instant' | 'realistic' = 'instant') {
  const clock = systemClock();
  const world = createFakeWorld({ clock, latencies });
  const sourcePod = world.seed('pod');
  const resources = new MemoryResources<StatefulMigrationSpecInput, StatefulMigrationStatusWire>(
    'migration.ms2m.io/v1alpha1',
    'StatefulMigration',
  );
  const metrics = createOperatorMetrics();
  const deps: OperatorDeps = {
    logger: silent,
    migrations: resources as unknown as MigrationClient,
    effects: {
      cluster: world.cluster,
      kubelet: world.kubelet,
      broker: world.broker,
      agents: world.agents,
      clock,
      pollMs: 5,
      sampleHeartbeatMs: 100,
    },
    log: createMemoryEventLog(),
    metrics,
    runtime: { maxAttempts: 2, retryBaseMs: 5 },
    ...extra,
  };
  const spec = (more: Partial<StatefulMigrationSpecInput> = {}): StatefulMigrationSpecInput => ({
    sourcePod,
    targetNode: TARGET_NODE,
    messageQueueConfig: { queueName: 'orders', brokerUrl: 'amqp://127.0.0.1:5672', exchangeName: 'orders' },
    ...more,
  });
  const eventsOf = (name: string) =>
    world.cluster.events.filter((e) => e.ref.kind === 'StatefulMigration' && e.ref.name === name);
  return { world, resources, metrics, deps, spec, eventsOf, clock };
}

/** A LeaderTask that records what the operator asked of it (the VolumeResize controller's place). */
function recordingTask(): LeaderTask & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    startLeading: () => void calls.push('start'),
    stopLeading: async (why) => void calls.push(`stop: ${why}`),
    synced: true,
    idle: async () => undefined,
    running: () => new Map(),
  };
}

describe('the StatefulMigration operator over fakes', { timeout: 30_000 }, () => {
  it('a migration runs to Completed: status, Events, metrics, then the finalizer goes and no host is left', async () => {
    const { resources, metrics, deps, spec, eventsOf } = setup();
    const operator = createOperator(deps);
    await operator.start();
    try {
      expect(operator.leading).toBe(true);
      resources.create('default', 'm1', spec(), { team: 'a' });
      await waitFor('m1 Completed', () => resources.peek('default', 'm1')?.status?.phase === 'Completed');
      await waitFor('m1 finalizer released', () => !resources.peek('default', 'm1')?.metadata.finalizers?.length);
      await waitFor('no host left', () => operator.running().size === 0);
      expect(operator.ready).toBe(true);
      const status = resources.peek('default', 'm1')!.status!;
      expect(status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(eventsOf('m1').map((e) => e.reason)).toContain('Completed');
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/ms2m_migrations_finished_total\{outcome="Completed",reason="Completed"\} 1/);
      expect(text).toMatch(/ms2m_reconciles_total\{result="ok"\} [1-9]/);
    } finally {
      await operator.stop();
    }
  });

  it('an invalid spec fails at once (InvalidSpec in status and a Warning Event) and the finalizer goes', async () => {
    const { resources, deps, spec, eventsOf } = setup();
    const operator = createOperator(deps);
    await operator.start();
    try {
      resources.create('default', 'bad', spec({ targetNode: '' }));
      await waitFor('bad Failed', () => resources.peek('default', 'bad')?.status?.phase === 'Failed');
      await waitFor('bad finalizer released', () => !resources.peek('default', 'bad')?.metadata.finalizers?.length);
      const status = resources.peek('default', 'bad')!.status!;
      expect(status.conditions?.find((c) => c.type === 'Failed')).toMatchObject({
        status: 'True',
        reason: 'InvalidSpec',
      });
      expect(eventsOf('bad')).toEqual([expect.objectContaining({ type: 'Warning', reason: 'InvalidSpec' })]);
      expect(operator.running().size).toBe(0);
    } finally {
      await operator.stop();
    }
  });

  it('cancelled before it started: Failed with nothing changed, a Normal Event, the finalizer goes', async () => {
    const { world, resources, deps, spec, eventsOf } = setup();
    const operator = createOperator(deps);
    await operator.start();
    try {
      const podsBefore = [...world.cluster.pods.keys()];
      resources.create('default', 'early', spec({ cancel: true }));
      await waitFor('early Failed', () => resources.peek('default', 'early')?.status?.phase === 'Failed');
      await waitFor('early finalizer released', () => !resources.peek('default', 'early')?.metadata.finalizers?.length);
      expect(resources.peek('default', 'early')!.status!.message).toBe(
        'Cancelled before it started: nothing was changed',
      );
      expect(eventsOf('early')).toEqual([
        expect.objectContaining({
          type: 'Normal',
          reason: 'Cancelled',
          message: 'Cancelled migration before it started',
        }),
      ]);
      expect([...world.cluster.pods.keys()]).toEqual(podsBefore);
    } finally {
      await operator.stop();
    }
  });

  it('deleting a running migration cancels it, compensates, then lets the resource go', async () => {
    const { world, resources, deps, spec, eventsOf } = setup({}, 'realistic');
    const operator = createOperator(deps);
    await operator.start();
    try {
      resources.create('default', 'gone', spec());
      await waitFor('gone has a finalizer', () =>
        Boolean(resources.peek('default', 'gone')?.metadata.finalizers?.includes(FINALIZER)),
      );
      await waitFor('gone runs', () => operator.running().size === 1);
      resources.delete('default', 'gone');
      await waitFor('gone deleted', () => resources.peek('default', 'gone') === undefined);
      await waitFor('no host left', () => operator.running().size === 0);
      expect(eventsOf('gone').map((e) => e.message)).toContain(
        'Failed migration: Cancelled: the StatefulMigration is being deleted',
      );
      expect([...world.cluster.pods.keys()]).toEqual(['default/consumer']); // the source serves on
    } finally {
      await operator.stop();
    }
  });

  it('a spec edit after the start is refused with one Warning per generation; the migration runs the logged spec', async () => {
    const { world, resources, deps, spec, eventsOf } = setup({}, 'realistic');
    const operator = createOperator(deps);
    await operator.start();
    try {
      resources.create('default', 'fixed', spec());
      await waitFor('fixed runs', () => operator.running().size === 1);
      resources.patchSpec('default', 'fixed', { targetNode: 'node-c' });
      await waitFor('fixed Completed', () => resources.peek('default', 'fixed')?.status?.phase === 'Completed');
      // every status write of the run reconciled the resource again: still one Warning for generation 2
      expect(eventsOf('fixed').filter((e) => e.reason === 'SpecChangeRefused')).toEqual([
        expect.objectContaining({ type: 'Warning', message: expect.stringMatching(/at generation 2:/) }),
      ]);
      const target = resources.peek('default', 'fixed')!.status!.targetPod;
      expect(world.cluster.pods.get(`default/${target}`)?.nodeName).toBe(TARGET_NODE);
    } finally {
      await operator.stop();
    }
  });

  it('only the lease holder leads and starts the VolumeResize task; stopping hands both over to the standby', async () => {
    const store = new FakeLeaseStore();
    const clock = systemClock();
    const taskA = recordingTask();
    const taskB = recordingTask();
    const a = createOperator(
      setup({ lease: fakeLease({ store, holder: 'a', clock, ttlMs: 5000 }), leaseRetryMs: 20, volumeResizes: taskA })
        .deps,
    );
    const b = createOperator(
      setup({ lease: fakeLease({ store, holder: 'b', clock, ttlMs: 5000 }), leaseRetryMs: 20, volumeResizes: taskB })
        .deps,
    );
    await a.start();
    await b.start();
    try {
      expect([a.leading, b.leading]).toEqual([true, false]);
      expect(b.ready).toBe(true); // a standby is ready
      expect(taskA.calls).toEqual(['start']);
      expect(taskB.calls).toEqual([]);
      await a.stop();
      expect(taskA.calls).toEqual(['start', 'stop: the operator is stopping']);
      await waitFor('b leads', () => b.leading);
      expect(taskB.calls).toEqual(['start']);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
