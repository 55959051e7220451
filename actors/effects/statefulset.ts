import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import type { MigrationContext } from '../../machines/context.ts';
import { type Effect, untilPodGone } from './deps.ts';
import { need, required } from './required-context.ts';

/** The StatefulSet: recorded by ReplicasRecorded, before that the source's owner. */
const stsOf = (ctx: MigrationContext): string =>
  ctx.statefulSetName ?? required(ctx, 'source.owner.name', need(ctx, 'source').owner.name);

/** Sequential, first: write the replica count to the log BEFORE scaling, so a crash can never lose it. */
export const recordReplicas: Effect = async ({ ctx }, { deps }) => {
  const sts = stsOf(ctx);
  const replicas = await deps.cluster.getStatefulSetReplicas(ctx.spec.namespace, sts);
  if (replicas === null) {
    throw new Ms2mError(
      ErrorCode.STATEFULSET_NOT_FOUND,
      `StatefulSet ${ctx.spec.namespace}/${sts} not found: it owns the source pod`,
    );
  }
  return { type: 'ReplicasRecorded', data: { statefulSet: sts, originalReplicas: replicas } };
};

export const scaleDownSource: Effect = async ({ ctx, key }, { deps }) => {
  const sts = stsOf(ctx);
  await deps.cluster.scaleStatefulSet(ctx.spec.namespace, sts, 0, key);
  return { type: 'SourceScaledDown', data: { statefulSet: sts } };
};

/** Waits until the source pod instance is gone (its name is needed for the target). */
export const awaitSourceGone: Effect = async ({ ctx }, env) => {
  await untilPodGone(env, { namespace: ctx.spec.namespace, name: ctx.spec.sourcePod, uid: need(ctx, 'source').uid });
  return { type: 'SourcePodGone', data: {} };
};

/**
 * Finalizing (Sequential): scale the StatefulSet back first, then drop the CR's ownerRef so it adopts the pod.
 * The other order races the real StatefulSet controller: at 0 replicas it adopts the orphaned pod and deletes it
 * as surplus. Scaled up while the CR still owns the pod, the controller waits (the name is taken) until the pod
 * is released, then adopts it. restoreReplicas, next, finds the count already restored.
 */
export const releaseTarget: Effect = async ({ ctx, key }, { deps }) => {
  await deps.cluster.scaleStatefulSet(ctx.spec.namespace, stsOf(ctx), need(ctx, 'originalReplicas'), key);
  await deps.cluster.removeOwnerReference(ctx.spec.namespace, need(ctx, 'targetPod'), ctx.spec.uid, key);
  return { type: 'TargetReleased', data: {} };
};

export const restoreReplicas: Effect = async ({ ctx, key }, { deps }) => {
  const replicas = need(ctx, 'originalReplicas');
  await deps.cluster.scaleStatefulSet(ctx.spec.namespace, stsOf(ctx), replicas, key);
  return { type: 'StatefulSetRestored', data: { replicas } };
};
