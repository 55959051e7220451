import { describe, expect, it } from 'vitest';
import { virtualClock } from '../../adapters/clock/fake.ts';
import type { FaultPlan } from '../../adapters/effect-journal.ts';
import { FakeCluster } from '../../adapters/kubernetes/fake.ts';
import type { PodInfo } from '../../adapters/kubernetes/port.ts';
import { runToEnd, type Scenario, scenario } from '../support/scenario.ts';

const applied = (s: Scenario, op: string) =>
  s.world.journal.entries.filter((e) => e.applied && e.op === op).map((e) => e.object);

/** A fault plan that runs `before` when the nth call of `op` starts (before the fake applies it). */
function onCall(op: string, nth: number, before: () => void): FaultPlan {
  let calls = 0;
  return (o) => {
    if (o === op && ++calls === nth) before();
    return { kind: 'ok' };
  };
}

/** Replaces a pod by a successor of the same name (what a StatefulSet controller does), returning it. */
function replaceWithSuccessor(s: Scenario, name: string, labels: Record<string, string> = {}): PodInfo {
  const old = s.world.cluster.pods.get(`default/${name}`)!;
  s.world.cluster.pods.delete(`default/${name}`);
  return s.world.cluster.addPod({
    ...structuredClone(old),
    uid: undefined,
    labels: { ...old.labels, ...labels },
    phase: 'Running',
    ready: true,
    deleting: false,
  });
}

describe('the fake enforces the UID precondition of a delete, as the API server does', () => {
  it('deletes the named instance; leaves a pod of that name with another UID alone', async () => {
    const cluster = new FakeCluster({ clock: virtualClock(0), podTerminationMs: 10 });
    const base = {
      namespace: 'default',
      name: 'app-0',
      phase: 'Running' as const,
      ready: true,
      deleting: false,
      labels: {},
      annotations: {},
      containers: [],
      ownerReferences: [],
      podSpec: {},
    };
    const pod = cluster.addPod(base);
    await cluster.deletePod('default', 'app-0', 'k1', { uid: 'uid-of-a-predecessor' });
    expect((await cluster.getPod('default', 'app-0'))?.deleting).toBe(false);
    expect(cluster.preconditionConflicts).toEqual([
      { namespace: 'default', name: 'app-0', expectedUid: 'uid-of-a-predecessor', actualUid: pod.uid },
    ]);
    await cluster.deletePod('default', 'app-0', 'k2', { uid: pod.uid });
    expect((await cluster.getPod('default', 'app-0'))?.deleting).toBe(true);
  });
});

describe('deletes name the instance the migration created or inspected', () => {
  it('Sequential: the target replaced by a same-name successor between inspection and delete survives compensation', async () => {
    let successor: PodInfo | undefined;
    let s!: Scenario;
    s = scenario({
      workload: 'statefulset',
      failingPods: new Set(['consumer-0']), // the restored target is stuck: compensation deletes it
      // right when compensation's delete goes out, consumer-0 is already another pod (same name, labels, owner)
      faults: onCall('deletePod', 1, () => {
        successor = replaceWithSuccessor(s, 'consumer-0');
      }),
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({ code: 'TARGET_POD_STUCK' });
    expect(successor).toBeDefined();
    const now = s.world.cluster.pods.get('default/consumer-0')!;
    expect(now).toMatchObject({ uid: successor!.uid, deleting: false });
    expect(applied(s, 'deletePod')).toEqual([]);
    expect(s.world.cluster.preconditionConflicts.map((c) => c.actualUid)).toEqual([successor!.uid]);
    expect(s.world.cluster.statefulSets.get('default/consumer')!.replicas).toBe(1);
  });

  it("Sequential: a successor that took the source's name is never adopted, deleted or mistaken for the target", async () => {
    let successor: PodInfo | undefined;
    let s!: Scenario;
    s = scenario({
      workload: 'statefulset',
      // after the scale-down, someone scales the StatefulSet up again: consumer-0 is back before the target
      faults: onCall('createPod', 1, () => {
        successor = s.world.cluster.addPod({
          ...structuredClone(s.world.cluster.pods.get('default/consumer-0') ?? basePodOf(s)),
          uid: undefined,
          deleting: false,
          phase: 'Running',
          ready: true,
        });
      }),
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({ code: 'TARGET_NAME_TAKEN', step: 'createTargetPod' });
    expect(s.world.cluster.pods.get('default/consumer-0')).toMatchObject({ uid: successor!.uid, deleting: false });
    expect(applied(s, 'deletePod')).toEqual([]);
    expect(final.context.compensation?.actions).not.toContain('Deleted Pod consumer-0');
  });

  it("ShadowPod: a pod recreated under the source's name before Finalizing is not deleted", async () => {
    let successor: PodInfo | undefined;
    let s!: Scenario;
    s = scenario({
      workload: 'pod',
      faults: onCall('deletePod', 1, () => {
        successor = replaceWithSuccessor(s, 'consumer');
      }),
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    expect(s.world.cluster.pods.get('default/consumer')).toMatchObject({ uid: successor!.uid, deleting: false });
    expect(s.world.cluster.preconditionConflicts).toHaveLength(1);
  });
});

/** The source pod as seeded (for a scenario whose source is gone already). */
function basePodOf(s: Scenario): PodInfo {
  const tmpl = s.world.cluster.statefulSets.get('default/consumer')!.template;
  return { ...structuredClone(tmpl), name: 'consumer-0', uid: 'x', nodeName: 'node-a' } as PodInfo;
}
