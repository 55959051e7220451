import { type Effect, untilPodGone } from './deps.ts';
import { need, required } from './required-context.ts';

/** Lowest deletion cost: the ReplicaSet removes the source first when it has one pod too many. */
export const SOURCE_DELETION_COST = -1_000_000;

/**
 * ShadowPod without a Deployment (or PatchAffinity): the source goes once replay has ended. Only the instance
 * inspected at Pending (its UID): a pod recreated under the source's name since is not ours to delete.
 * A plain pod's target then stops being owned by the StatefulMigration: it is the workload now, and deleting
 * the finished resource must not garbage-collect it (PatchAffinity keeps SHADOW's behaviour).
 */
export const deleteSourcePod: Effect = async ({ ctx, key }, { deps }) => {
  const source = need(ctx, 'source');
  await deps.cluster.deletePod(ctx.spec.namespace, ctx.spec.sourcePod, key, { uid: source.uid });
  if (source.owner.kind === 'None')
    await deps.cluster.removeOwnerReference(
      ctx.spec.namespace,
      need(ctx, 'targetPod'),
      ctx.spec.uid,
      `${key}:release-target`,
    );
  return { type: 'SourcePodDeleted', data: {} };
};

/**
 * Deployment-owned source. Adopt (ours): mark the source cheapest to delete, then release the target from the
 * CR so the ReplicaSet adopts it and removes the surplus source itself. PatchAffinity (SHADOW): pin the
 * Deployment's template to the target node.
 */
export const handOverTarget: Effect = async ({ ctx, key }, { deps }) => {
  const { namespace } = ctx.spec;
  if (ctx.spec.finalizeDeploymentMode === 'PatchAffinity') {
    await deps.cluster.patchDeploymentNodeAffinity(
      namespace,
      required(ctx, 'source.owner.deploymentName', need(ctx, 'source').owner.deploymentName),
      ctx.spec.targetNode,
      key,
    );
    return { type: 'TargetHandedOver', data: { mode: 'PatchAffinity' } };
  }
  await deps.cluster.setPodDeletionCost(namespace, ctx.spec.sourcePod, SOURCE_DELETION_COST, `${key}:cost`);
  await deps.cluster.removeOwnerReference(namespace, need(ctx, 'targetPod'), ctx.spec.uid, key);
  return { type: 'TargetHandedOver', data: { mode: 'Adopt' } };
};

/** Adopt: wait for the ReplicaSet to remove the source. */
export const awaitSourceReleased: Effect = async ({ ctx }, env) => {
  await untilPodGone(env, { namespace: ctx.spec.namespace, name: ctx.spec.sourcePod, uid: need(ctx, 'source').uid });
  return { type: 'SourceReleased', data: {} };
};
