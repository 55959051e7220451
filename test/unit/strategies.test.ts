import { describe, expect, it } from 'vitest';
import { POD_DELETION_COST } from '../../adapters/kubernetes/port.ts';
import { runToEnd, scenario } from '../support/scenario.ts';

const ops = (s: ReturnType<typeof scenario>) =>
  s.world.journal.entries.filter((e) => e.applied).map((e) => `${e.op} ${e.object}`);

describe('ShadowPod on a plain pod', () => {
  it.each(['Direct', 'Registry'] as const)('completes through every phase with transfer %s', async (transferMode) => {
    const s = scenario({
      workload: 'pod',
      spec: {
        transferMode,
        checkpointImageRepository: transferMode === 'Registry' ? '127.0.0.1:5000/ckpt' : undefined,
      },
    });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    expect(final.context.strategy).toBe('ShadowPod');
    expect(Object.keys(final.context.phaseTimings)).toEqual([
      'Pending',
      'Checkpointing',
      'Transferring',
      'Restoring',
      'Replaying',
      'Finalizing',
    ]);
    // Direct: named by the archive's digest
    const image = transferMode === 'Registry' ? '127.0.0.1:5000/ckpt/consumer:checkpoint' : (final.context.image ?? '');
    expect(final.context.image).toBe(image);
    if (transferMode === 'Direct') expect(image).toMatch(/^localhost\/checkpoint\/consumer:sha256-[0-9a-f]{64}$/);
    expect(ops(s)).toEqual([
      'ensureTopology orders',
      'createReplayQueue orders.ms2m-replay',
      'checkpoint default/consumer/consumer',
      transferMode === 'Registry' ? `agentPush ${image}` : `agentSend node-b:${image}`,
      'createPod default/consumer-shadow',
      'control:START_REPLAY ms2m.control.consumer-shadow',
      'control:STOP_CONSUMING ms2m.control.consumer',
      'unbindReplayQueue orders.ms2m-replay',
      'control:END_REPLAY ms2m.control.consumer-shadow',
      'deleteReplayQueue orders.ms2m-replay',
      'deletePod default/consumer',
      // the migrated plain pod is the workload now: no longer owned (and garbage-collected) by the resource
      'removeOwnerReference default/consumer-shadow',
    ]);
    const target = await s.world.cluster.getPod('default', 'consumer-shadow');
    expect(target).toMatchObject({ nodeName: 'node-b', ready: true });
    expect(target?.ownerReferences).toEqual([]);
    const source = await s.world.cluster.getPod('default', 'consumer');
    expect(source === null || source.deleting).toBe(true);
  });
});

describe('ShadowPod on a Deployment pod', () => {
  it('Adopt: the ReplicaSet adopts the migrated pod and removes the source; no fresh replacement', async () => {
    const s = scenario({ workload: 'deployment' });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    const pods = [...s.world.cluster.pods.values()];
    expect(pods.map((p) => p.name)).toEqual(['consumer-abc12-x7k2p-shadow']);
    expect(pods[0]!.ownerReferences).toEqual([
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'consumer-abc12', uid: 'rs-consumer-abc12', controller: true },
    ]);
    expect(ops(s)).toContain(`setPodDeletionCost default/consumer-abc12-x7k2p`);
    expect(ops(s)).not.toContain('deletePod default/consumer-abc12-x7k2p');
    expect(s.world.cluster.deploymentAffinity.size).toBe(0);
  });

  it('PatchAffinity (SHADOW): pins the Deployment to the target node and deletes the source', async () => {
    const s = scenario({ workload: 'deployment', spec: { finalizeDeploymentMode: 'PatchAffinity' } });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    expect(s.world.cluster.deploymentAffinity.get('default/consumer')).toBe('node-b');
    expect(ops(s)).toContain('deletePod default/consumer-abc12-x7k2p');
    expect(
      s.world.cluster.pods.get('default/consumer-abc12-x7k2p-shadow')?.annotations[POD_DELETION_COST],
    ).toBeUndefined();
  });
});

describe('Sequential on a StatefulSet pod', () => {
  it('is auto-detected, scales to 0, restores under the same name on the target node, scales back', async () => {
    const s = scenario({ workload: 'statefulset' });
    const final = await runToEnd(s);
    expect(final.value).toBe('Completed');
    expect(final.context.strategy).toBe('Sequential');
    expect(final.context.originalReplicas).toBe(1);
    expect(ops(s)).toEqual([
      'ensureTopology orders',
      'createReplayQueue orders.ms2m-replay',
      'checkpoint default/consumer-0/consumer',
      `agentSend node-b:${final.context.image}`,
      'scaleStatefulSet default/consumer=0',
      'createPod default/consumer-0',
      'control:START_REPLAY ms2m.control.consumer-0',
      'unbindReplayQueue orders.ms2m-replay',
      'control:END_REPLAY ms2m.control.consumer-0',
      'deleteReplayQueue orders.ms2m-replay',
      // scaled back while the CR still owns the pod, then released: the StatefulSet adopts it, never deletes it
      'scaleStatefulSet default/consumer=1',
      'removeOwnerReference default/consumer-0',
    ]);
    const pod = s.world.cluster.pods.get('default/consumer-0')!;
    expect(pod.nodeName).toBe('node-b');
    expect(pod.ownerReferences.map((r) => r.kind)).toEqual(['StatefulSet']);
    expect(s.world.cluster.statefulSets.get('default/consumer')!.replicas).toBe(1);
  });

  it('ShadowPod asked for on a StatefulSet pod is rejected at Pending, pointing to Sequential', async () => {
    const s = scenario({ workload: 'statefulset', spec: { migrationStrategy: 'ShadowPod' } });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({ reason: 'Rejected', phase: 'Pending' });
    expect(final.context.message).toMatch(/StatefulSet consumer.*use migrationStrategy Sequential/);
    expect(ops(s)).toEqual([]);
  });
});

describe('Pending rejects what cannot work, before touching anything', () => {
  it.each([
    [{ targetNode: 'node-z' }, /Node node-z not found/],
    [{ targetNode: 'node-a' }, /already runs on node node-a/],
  ])('%o', async (spec, message) => {
    const s = scenario({ spec });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.message).toMatch(message);
    expect(ops(s)).toEqual([]);
  });

  it('a missing source pod fails with a message naming it', async () => {
    const s = scenario({ spec: { sourcePod: 'nope' } });
    const final = await runToEnd(s);
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toMatchObject({ code: 'SOURCE_NOT_FOUND', step: 'inspectSource' });
    expect(final.context.message).toContain('Pod default/nope not found');
  });
});
