import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../adapters/errors.ts';
import { cancelAt, crashAt } from '../support/drivers.ts';
import { scriptedFaults } from '../support/faults.ts';
import { runToEnd, scenario } from '../support/scenario.ts';

const applied = (s: ReturnType<typeof scenario>) =>
  s.world.journal.entries.filter((e) => e.applied).map((e) => `${e.op} ${e.object}`);

describe('bounded retries with backoff', () => {
  it('a transient failure is retried after the backoff and the migration completes', async () => {
    const s = scenario({ faults: scriptedFaults([{ op: 'checkpoint', nth: 1, outcome: { kind: 'transient' } }]) });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    const events = await s.log.read(s.key);
    const failed = events.find((e) => e.type === 'StepFailed')!;
    const created = events.find((e) => e.type === 'CheckpointCreated')!;
    expect(failed.data).toMatchObject({ step: 'takeCheckpoint', transient: true, attempt: 1 });
    expect(final.context.attempts.takeCheckpoint).toBe(2);
    // the retry ran no earlier than retryBaseMs · 2^0 after the failure
    expect(Date.parse(created.at) - Date.parse(failed.at)).toBeGreaterThanOrEqual(200);
  });

  it('a lost acknowledgement is retried and the retry is a no-op', async () => {
    const s = scenario({ faults: scriptedFaults([{ op: 'createPod', nth: 1, outcome: { kind: 'lostAck' } }]) });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    const creates = s.world.journal.entries.filter((e) => e.op === 'createPod');
    expect(creates.map((e) => e.applied)).toEqual([true, false]);
  });

  it('gives up after maxAttempts and compensates', async () => {
    const transient = { kind: 'transient' } as const;
    const s = scenario({
      maxAttempts: 3,
      faults: scriptedFaults([1, 2, 3].map((nth) => ({ op: 'agentSend', nth, outcome: transient }))),
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({
      reason: 'StepFailed',
      step: 'transferCheckpoint',
      phase: 'Transferring',
    });
    expect(final.context.compensation?.actions).toEqual(['Deleted replay queue orders.ms2m-replay']);
  });

  it('a permanent failure compensates at once', async () => {
    const s = scenario({ faults: scriptedFaults([{ op: 'checkpoint', nth: 1, outcome: { kind: 'permanent' } }]) });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.attempts.takeCheckpoint).toBe(1);
  });
});

describe('detection of a stuck target', () => {
  it('ImagePullBackOff on the shadow pod fails Restoring with the image named, and compensates', async () => {
    const s = scenario({ failingPods: new Set(['consumer-shadow']) });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({ code: 'TARGET_POD_STUCK', phase: 'Restoring' });
    expect(final.context.message).toContain('ImagePullBackOff');
    expect(final.context.message).toContain(final.context.image);
    expect(final.context.image).toMatch(/^localhost\/checkpoint\/consumer:sha256-[0-9a-f]{64}$/);
    expect(applied(s)).toContain('deletePod default/consumer-shadow');
    expect(applied(s)).not.toContain('deletePod default/consumer');
  });
});

describe('deadlines per phase (timers from context, never `after`)', () => {
  it('a phase that outlives its deadline fails with DeadlineExceeded and compensates', async () => {
    const s = scenario({
      spec: { phaseDeadlines: { Transferring: 5 } },
      faults: scriptedFaults([{ op: 'agentSend', nth: 1, outcome: { kind: 'slow', ms: 60_000 } }]),
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({ reason: 'DeadlineExceeded', phase: 'Transferring' });
    expect(final.context.message).toContain('spec.phaseDeadlines.Transferring');
    const events = await s.log.read(s.key);
    const entered = events.find((e) => e.type === 'CheckpointCreated')!;
    const deadline = events.find((e) => e.type === 'DeadlineExceeded')!;
    expect(Date.parse(deadline.at) - Date.parse(entered.at)).toBe(5000);
  });

  it('Sequential: a failure after scale-down restores the saved replica count', async () => {
    const s = scenario({ workload: 'statefulset', failingPods: new Set(['consumer-0']) });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.compensation?.actions).toContain('Scaled StatefulSet consumer back to 1');
    expect(s.world.cluster.statefulSets.get('default/consumer')!.replicas).toBe(1);
  });
});

describe('compensation never gives up on restoring the service', () => {
  // shrunk from a fast-check counterexample of invariant 4: the scale-back itself failed once, for good
  it('Sequential: a failing scale-back during compensation is retried until the replicas are restored', async () => {
    const s = scenario({
      workload: 'statefulset',
      failingPods: new Set(['consumer-0']),
      faults: scriptedFaults([{ op: 'scaleStatefulSet', nth: 2, outcome: { kind: 'permanent' } }]),
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(s.world.cluster.statefulSets.get('default/consumer')!.replicas).toBe(1);
    const failed = (await s.log.read(s.key))
      .filter((e) => e.type === 'StepFailed')
      .map((e) => (e.data as { step: string }).step);
    expect(failed).toEqual(['awaitTargetReady', 'compensate']);
  });
});

describe('cancel', () => {
  it('during Transferring: compensates and leaves the source serving', async () => {
    const s = scenario();
    const final = await cancelAt('CheckpointCreated')(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({ reason: 'Cancelled', phase: 'Transferring' });
    expect(s.world.cluster.pods.get('default/consumer')).toMatchObject({ deleting: false });
    expect(s.world.broker.queues.has('orders.ms2m-replay')).toBe(false);
  });

  it('during Finalizing: too late to go back, the migration completes and says so', async () => {
    const s = scenario();
    const final = await cancelAt('ReplayEnded')(s);
    expect(final.value).toBe('Completed');
    expect(final.context.cancelRequested).toMatchObject({ ignored: true });
  });
});

describe('crash and resume', () => {
  it('a host stopped mid-run resumes from the log and completes with each effect applied once', async () => {
    const s = scenario({ workload: 'statefulset' });
    const resumedAt: unknown[] = [];
    const final = await crashAt('SourceScaledDown')({
      ...s,
      open: async () => {
        const host = await s.open();
        resumedAt.push(host.snapshot()?.value);
        return host;
      },
    });
    expect(resumedAt).toEqual([{ active: { Restoring: 'awaitSourceGone' } }]);
    expect(final.value).toBe('Completed');
    const once = s.world.journal.entries.filter((e) => e.applied && e.op !== 'checkpoint');
    expect(new Set(once.map((e) => `${e.op}|${e.object}`)).size).toBe(once.length);
  });
});

describe('Sequential compensation after END_REPLAY keeps the migrated pod', () => {
  it('scales the StatefulSet back before releasing the target, so the StatefulSet adopts it instead of deleting it', async () => {
    const s = scenario({
      workload: 'statefulset',
      faults: scriptedFaults([{ op: 'deleteReplayQueue', nth: 1, outcome: { kind: 'permanent' } }]),
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.compensation?.actions).toEqual(
      expect.arrayContaining([
        'Scaled StatefulSet consumer back to 1',
        'Released Pod consumer-0 to StatefulSet consumer',
      ]),
    );
    const actions = final.context.compensation?.actions ?? [];
    expect(actions.indexOf('Scaled StatefulSet consumer back to 1')).toBeGreaterThanOrEqual(0);
    expect(actions.indexOf('Scaled StatefulSet consumer back to 1')).toBeLessThan(
      actions.indexOf('Released Pod consumer-0 to StatefulSet consumer'),
    );
    const pod = s.world.cluster.pods.get('default/consumer-0');
    expect(pod?.nodeName).toBe('node-b');
    expect(pod?.deleting).toBe(false);
    expect(pod?.ownerReferences.map((r) => r.kind)).toEqual(['StatefulSet']);
  });
});

describe('compensation when the broker can never be reached', () => {
  it('ends Failed with leftovers that say what to do, instead of retrying forever', async () => {
    const s = scenario({ workload: 'pod' });
    let resolvable = true;
    s.deps.brokerConfig = (ctx) => {
      if (!resolvable)
        throw new InvalidInputError(
          'StatefulMigration default/m1',
          'spec.brokerSecretRef: Secret default/broker is gone',
        );
      const m = ctx.spec.messageQueueConfig;
      return { brokerUrl: m.brokerUrl, exchangeName: m.exchangeName, queueName: m.queueName };
    };
    // the replay queue exists, then the Secret goes and the checkpoint fails for good
    s.world.kubelet.checkpoint = async () => {
      resolvable = false;
      throw new InvalidInputError('Pod default/consumer', 'checkpoint refused');
    };
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.compensation?.leftovers).toEqual([
      'Replay queue orders.ms2m-replay was not deleted: delete it by hand (StatefulMigration default/m1: spec.brokerSecretRef: Secret default/broker is gone)',
    ]);
  });

  it('skips the replay queue when the config never resolved: the migration never reached the broker', async () => {
    const s = scenario({ workload: 'pod' });
    s.deps.brokerConfig = () => {
      throw new InvalidInputError(
        'StatefulMigration default/m1',
        'spec.brokerSecretRef: Secret default/broker not found',
      );
    };
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.compensation).toMatchObject({ actions: [], leftovers: [] });
  });
});

describe('Sequential asked for a pod without a StatefulSet', () => {
  it('is rejected at Pending with a message that names the owner and the fix, before anything changed', async () => {
    const s = scenario({ workload: 'deployment', spec: { migrationStrategy: 'Sequential' } });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.phaseTimings).not.toHaveProperty('Checkpointing');
    expect(final.context.message).toMatch(
      /Pod consumer-abc12-x7k2p has ReplicaSet consumer-abc12, not a StatefulSet: .*use migrationStrategy ShadowPod/,
    );
    expect(s.world.journal.entries.filter((e) => e.applied)).toEqual([]);
  });
});

describe('the cutoff waits for the source to stop consuming before it unbinds the replay queue', () => {
  it('unbinds once the primary queue lost the source as a consumer', async () => {
    const s = scenario({ workload: 'pod', spec: { replayCutoffSeconds: 1 }, producerRate: 50, consumerRate: 5 });
    const counts: number[] = [];
    const real = s.world.broker.consumerCount.bind(s.world.broker);
    s.world.broker.consumerCount = async (cfg, queue) => {
      const n = await real(cfg, queue);
      counts.push(n ?? -1);
      return n;
    };
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    expect(counts.slice(0, 2)).toEqual([1, 0]); // before STOP_CONSUMING, then stopped
    const ops = s.world.journal.entries.filter((e) => e.applied).map((e) => e.op);
    expect(ops.indexOf('unbindReplayQueue')).toBeGreaterThan(ops.indexOf('control:STOP_CONSUMING'));
  });

  it('a consumer that ignores STOP_CONSUMING is waited for a bounded time, then the replay queue is unbound', async () => {
    const s = scenario({ workload: 'pod', spec: { replayCutoffSeconds: 1 }, producerRate: 50, consumerRate: 5 });
    s.world.broker.consumerCount = async () => 1;
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    const stopped = s.world.journal.entries.find((e) => e.applied && e.op === 'control:STOP_CONSUMING');
    const unbound = s.world.journal.entries.find((e) => e.applied && e.op === 'unbindReplayQueue');
    expect((unbound?.at ?? 0) - (stopped?.at ?? 0)).toBeGreaterThanOrEqual(10_000);
  });
});
