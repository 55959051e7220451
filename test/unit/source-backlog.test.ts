import { describe, expect, it } from 'vitest';
import { runToEnd, scenario } from '../support/scenario.ts';

// The primary queue's backlog older than the replay queue (issue 9's message-loss bug): a ShadowPod checkpoint
// waits until the source has received all of it, for both strategies.

const at = (events: { type: string; at: string }[], type: string) =>
  Date.parse(events.find((e) => e.type === type)?.at ?? 'missing');

describe('the source backlog before the checkpoint', () => {
  it('ShadowPod: the checkpoint waits until the 40 older messages are delivered to the source (4 s at 10 msg/s)', async () => {
    const s = scenario({ primaryBacklog: 40, sourceRate: 10 });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    const events = await s.log.read(s.key);
    const inspected = at(events, 'SourceInspected');
    const bound = at(events, 'ReplayQueueCreated');
    expect(bound - inspected).toBeGreaterThanOrEqual(4_000);
    const order = s.world.journal.entries.filter((e) => e.applied).map((e) => e.op);
    expect(order.indexOf('createReplayQueue')).toBeLessThan(order.indexOf('checkpoint'));
    expect(at(events, 'CheckpointCreated')).toBeGreaterThanOrEqual(bound);
  });

  it('ShadowPod: a source that never takes its backlog fails the migration at the Checkpointing deadline, compensated, no checkpoint taken', async () => {
    const s = scenario({
      primaryBacklog: 5,
      sourceRate: 0,
      spec: { phaseDeadlines: { Checkpointing: 30 } as never },
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({ reason: 'DeadlineExceeded', phase: 'Checkpointing' });
    const types = (await s.log.read(s.key)).map((e) => e.type);
    expect(types).not.toContain('CheckpointCreated');
    expect(types).toContain('CompensationCompleted');
    expect(s.world.journal.entries.filter((e) => e.applied).map((e) => e.op)).toContain('deleteReplayQueue');
  });

  it('Sequential waits too (its source consumes until the scale-down): 40 older messages at 10 msg/s, 4 s', async () => {
    const s = scenario({ workload: 'statefulset', primaryBacklog: 40, sourceRate: 10 });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    const events = await s.log.read(s.key);
    expect(at(events, 'ReplayQueueCreated') - at(events, 'SourceInspected')).toBeGreaterThanOrEqual(4_000);
  });
});
