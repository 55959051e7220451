import { describe, expect, it } from 'vitest';
import { computeCutoff } from '../../machines/cutoff.ts';
import { isCaughtUp, isDrained } from '../../machines/guards.ts';
import { runToEnd, scenario } from '../support/scenario.ts';

describe('threshold cutoff T_cutoff <= T_replay_max * mu / lambda', () => {
  it('uses replayCutoffSeconds when set', () => {
    expect(computeCutoff(45, 120, 10, 50)).toEqual({ seconds: 45, computed: false });
  });
  it('computes from measured rates when unset or 0', () => {
    expect(computeCutoff(undefined, 120, 10, 40)).toEqual({ seconds: 30, computed: true, mu: 10, lambda: 40 });
    expect(computeCutoff(0, 120, 10, 40)).toEqual({ seconds: 30, computed: true, mu: 10, lambda: 40 });
  });
  it('never exceeds T_replay_max, and allows all of it without producers', () => {
    expect(computeCutoff(undefined, 120, 100, 10).seconds).toBe(120);
    expect(computeCutoff(undefined, 120, 5, 0).seconds).toBe(120);
  });
});

describe('Replaying', () => {
  it('Cutoff: a target slower than the producers is cut off at the computed T_cutoff, then drains the rest', async () => {
    // lambda 200 msg/s, mu 150 msg/s: the replay queue grows while bound, its backlog beyond the target's
    // prefetch (a backlog within the prefetch is caught up: see isCaughtUp); T_cutoff = 120 * 150 / 200 = 90 s
    const s = scenario({ producerRate: 200, consumerRate: 150 });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    expect(final.context.replay.cutoff).toEqual({ seconds: 90, computed: true, mu: 150, lambda: 200 });
    const events = await s.log.read(s.key);
    const started = Date.parse(events.find((e) => e.type === 'ReplayStarted')!.at);
    const stopped = Date.parse(events.find((e) => e.type === 'SourceStopped')!.at);
    expect(stopped - started).toBeGreaterThanOrEqual(90_000);
    // after the cutoff the target drained the queue until nothing was left waiting in it (what it still held it
    // finishes before it switches queues): nothing dropped (SHADOW deletes the leftovers)
    const samples = events.filter((e) => e.type === 'ReplayDepthSampled' && Date.parse(e.at) > stopped);
    expect(samples.at(-1)!.data).toMatchObject({ ready: 0, drained: true });
    expect(samples.some((e) => (e.data as { ready: number }).ready > 0)).toBe(true);
    expect(samples.slice(0, -1).every((e) => (e.data as { drained: boolean }).drained === false)).toBe(true);
    // stop the source first, then unbind
    const order = s.world.journal.entries.filter((e) => e.applied).map((e) => e.op);
    const stop = order.indexOf('control:STOP_CONSUMING');
    expect(stop).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('unbindReplayQueue')).toBeGreaterThan(stop);
  });

  it('Cutoff with a configured replayCutoffSeconds', async () => {
    const s = scenario({ producerRate: 20, consumerRate: 15, spec: { replayCutoffSeconds: 10 } });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    expect(final.context.replay.cutoff).toEqual({ seconds: 10, computed: false });
  });

  it('Drain: unbinds first, drains, completes', async () => {
    const s = scenario({ spec: { replayMode: 'Drain' } });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    const types = (await s.log.read(s.key)).map((e) => e.type);
    expect(types).toContain('ReplayStarted');
    expect(types.indexOf('SourceStopped')).toBe(types.indexOf('ReplayStarted') + 1);
  });

  it('Drain: depth not decreasing for drainStallSeconds fails the migration and compensates', async () => {
    const s = scenario({ spec: { replayMode: 'Drain', drainStallSeconds: 30 }, consumerRate: 0 });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({ reason: 'ReplayStalled', phase: 'Replaying' });
    expect(final.context.compensation?.actions).toEqual([
      'Resumed consumer of Pod consumer',
      'Deleted Pod consumer-shadow',
      'Deleted replay queue orders.ms2m-replay',
    ]);
    expect(s.world.cluster.pods.get('default/consumer')).toMatchObject({ deleting: false, ready: true });
    expect(s.world.broker.queues.has('orders.ms2m-replay')).toBe(false);
  });

  it('Drain: a replay slower than replayMaxSeconds fails with ReplayTimeout', async () => {
    // producers stop at unbind, but the target drains 0.5 msg/s: the backlog outlives replayMaxSeconds
    const s = scenario({
      spec: { replayMode: 'Drain', replayMaxSeconds: 5, drainStallSeconds: 60 },
      producerRate: 1000,
      consumerRate: 0.5,
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure?.reason).toBe('ReplayTimeout');
  });

  it('progress carries replay depth, replayed count and an ETA', async () => {
    const s = scenario({ producerRate: 200, consumerRate: 150 });
    const seen: number[] = [];
    const host = await s.open();
    await host.request({ spec: s.spec });
    const final = await host.done();
    expect(final.context.progress.replayed).toBeGreaterThan(0);
    for (const e of await s.log.read(s.key))
      if (e.type === 'ReplayDepthSampled') seen.push((e.data as { depth: number }).depth);
    expect(Math.max(...seen)).toBeGreaterThan(0);
    // the last reading ended the replay: its depth is what the target still held (at most its prefetch)
    expect(final.context.progress.replayDepth).toBe(seen.at(-1));
    expect(final.context.progress.replayDepth).toBeLessThanOrEqual(10);
  });
});

describe('caught up vs drained (a live producer keeps one message in flight)', () => {
  const sample = (ready: number, unacked: number, settled = true) => ({
    depth: ready + unacked,
    ready,
    unacked,
    settled,
  });
  it('nothing ready and one unacked is caught up, not drained', () => {
    expect(isCaughtUp(sample(0, 1))).toBe(true);
    expect(isDrained(sample(0, 1))).toBe(false);
  });
  it('a backlog waiting in the queue is neither', () => {
    expect(isCaughtUp(sample(3, 10))).toBe(false);
    expect(isDrained(sample(3, 10))).toBe(false);
  });
  it('an unsettled zero is caught up (the AMQP ready count is fresh) but not drained (unacked may be stale)', () => {
    expect(isCaughtUp(sample(0, 0, false))).toBe(true);
    expect(isDrained(sample(0, 0, false))).toBe(false);
  });
  it('a reading taken after the unbind with nothing ready is drained, held deliveries or not (drained: true)', () => {
    expect(isDrained({ ...sample(0, 4, false), drained: true })).toBe(true);
    expect(isDrained({ ...sample(2, 4), drained: false })).toBe(false);
    // logs written before the field: a settled zero, as before
    expect(isDrained(sample(0, 0, true))).toBe(true);
  });
});

describe('after END_REPLAY', () => {
  it('the replay queue is deleted only once the target consumes its primary queue and no longer the replay queue', async () => {
    const s = scenario({ producerRate: 200, consumerRate: 150 });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    const order = s.world.journal.entries.filter((e) => e.applied).map((e) => e.op);
    expect(order.indexOf('deleteReplayQueue')).toBeGreaterThan(order.indexOf('control:END_REPLAY'));
  });

  it('a target that never switches (nothing consumes the primary queue) fails Finalizing after drainStallSeconds, compensated: the source serves again', async () => {
    const s = scenario({ targetSwitches: false, spec: { drainStallSeconds: 20 } });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({
      phase: 'Finalizing',
      step: 'deleteReplayQueue',
      code: 'TARGET_NOT_SWITCHED',
    });
    expect(final.context.failure?.message).toMatch(/did not switch from orders\.ms2m-replay to orders within 20s/);
    expect(final.context.compensation?.actions).toEqual([
      'Resumed consumer of Pod consumer',
      'Deleted Pod consumer-shadow',
      'Deleted replay queue orders.ms2m-replay',
    ]);
    expect(s.world.cluster.pods.get('default/consumer')).toMatchObject({ deleting: false, ready: true });
    expect(s.world.broker.queues.has('orders.ms2m-replay')).toBe(false);
  });
});
