import { ErrorCode, type Ms2mError, toMs2mError } from '../../adapters/errors.ts';
import type { BrokerConfig } from '../../adapters/rabbitmq/port.ts';
import { brokerConfigOf, type Effect } from './deps.ts';
import { need } from './required-context.ts';
import { createdByMigration, targetPodName } from './target-pod.ts';

/**
 * Undo what the migration did, by what the log says happened (and, where a step may have applied without its
 * fact reaching the log, by looking). Every call here is idempotent, so compensation itself survives a crash.
 *
 * Before END_REPLAY the source is authoritative: resume it, delete the target, restore replicas.
 * After END_REPLAY the target has consumed messages the source never saw: going back would lose them, so the
 * target stays and the stopped source is kept and reported as a leftover for a person to remove.
 *
 * A transient failure is thrown, and compensation is retried until it is done. A broker action that can never
 * succeed (its config cannot be resolved: the Secret of spec.brokerSecretRef is gone or may not be read; or the
 * broker refuses it for good) becomes a leftover saying what to do by hand, so the migration still ends Failed.
 */
export const compensate: Effect = async ({ ctx, key }, { deps }) => {
  const { spec, done } = ctx;
  const { cluster, broker } = deps;
  const actions: string[] = [];
  const leftovers: string[] = [];
  let resolved: BrokerConfig | Ms2mError | undefined;
  /** Runs a broker action; a permanent failure is a leftover (`todo` + why), a transient one is thrown. */
  const onBroker = async (
    run: (cfg: BrokerConfig) => Promise<void>,
    done: string,
    todo: string,
    /** Without a config the migration never reached the broker for this: nothing to undo. */
    neededWithoutConfig = true,
  ) => {
    try {
      resolved ??= await brokerConfigOf(ctx, deps);
    } catch (err) {
      const e = toMs2mError(err);
      if (e.transient) throw err;
      resolved = e;
    }
    if (!('brokerUrl' in resolved)) {
      if (neededWithoutConfig) leftovers.push(`${todo} (${resolved.message})`);
      return;
    }
    try {
      await run(resolved);
      actions.push(done);
    } catch (err) {
      const e = toMs2mError(err);
      if (e.transient) throw err;
      leftovers.push(`${todo} (${e.message})`);
    }
  };
  const replayQueue = ctx.replayQueue ?? `${spec.messageQueueConfig.queueName}.ms2m-replay`;
  const target = ctx.strategy ? targetPodName(ctx) : undefined;

  // a target that never took over the primary queue after END_REPLAY (deleteReplayQueue): the primary queue
  // holds every message since the source stopped, so resuming the source loses nothing, as before END_REPLAY
  const targetNeverTookOver = ctx.failure?.code === ErrorCode.TARGET_NOT_SWITCHED;
  if (!done.replayEnded || targetNeverTookOver) {
    if (ctx.strategy === 'ShadowPod' && (done.sourceStopped || ctx.attempts.stopSource)) {
      await onBroker(
        (cfg) => broker.sendControl(cfg, spec.sourcePod, { type: 'RESUME_CONSUMING' }, `${key}:resume-source`),
        `Resumed consumer of Pod ${spec.sourcePod}`,
        `The consumer of Pod ${spec.sourcePod} was told to stop and was not resumed: send {"type":"RESUME_CONSUMING"} to queue ms2m.control.${spec.sourcePod}`,
      );
    }
    if (target) {
      // Sequential's target has the source's name: delete only the instance inspected here, and only when
      // this migration created it (never the source, never a successor of the same name)
      const pod = await cluster.getPod(spec.namespace, target);
      if (pod && pod.uid !== ctx.source?.uid && createdByMigration(pod, spec)) {
        await cluster.deletePod(spec.namespace, target, `${key}:delete-target`, { uid: pod.uid });
        actions.push(`Deleted Pod ${target}`);
      }
    }
    if (done.targetHandedOver && ctx.strategy === 'ShadowPod') {
      await cluster.setPodDeletionCost(spec.namespace, spec.sourcePod, 0, `${key}:source-cost`);
      actions.push(`Reset deletion cost of Pod ${spec.sourcePod}`);
    }
  } else if (ctx.strategy === 'ShadowPod' && !done.sourceDeleted) {
    leftovers.push(
      `Pod ${spec.sourcePod} was stopped and kept; Pod ${target} serves since END_REPLAY: delete the source once the target is verified`,
    );
  }

  // scale back BEFORE releasing a target: released at 0 replicas, the real StatefulSet controller adopts the pod
  // and deletes it as surplus; scaled up first, it waits for the name and adopts the pod once released
  if (ctx.strategy === 'Sequential' && ctx.originalReplicas !== undefined && !done.replicasRestored) {
    const sts = need(ctx, 'statefulSetName');
    await cluster.scaleStatefulSet(spec.namespace, sts, ctx.originalReplicas, `${key}:restore-replicas`);
    actions.push(`Scaled StatefulSet ${sts} back to ${ctx.originalReplicas}`);
  }
  if (done.replayEnded && ctx.strategy === 'Sequential' && !done.targetHandedOver && target) {
    await cluster.removeOwnerReference(spec.namespace, target, spec.uid, `${key}:release-target`);
    actions.push(`Released Pod ${target} to StatefulSet ${ctx.statefulSetName}`);
  }
  if ((done.replayQueueCreated || ctx.attempts.prepareBroker) && !done.replayQueueDeleted) {
    await onBroker(
      (cfg) => broker.deleteReplayQueue(cfg, `${key}:delete-replay-queue`),
      `Deleted replay queue ${replayQueue}`,
      `Replay queue ${replayQueue} was not deleted: delete it by hand`,
      // only a queue the log says was created can exist when the broker config cannot be resolved now
      done.replayQueueCreated === true,
    );
  }
  return { type: 'CompensationCompleted', data: { actions, leftovers } };
};
