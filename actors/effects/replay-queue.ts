import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import {
  controlQueueName,
  endReplay as endReplayMessage,
  startReplay as startReplayMessage,
} from '../../adapters/rabbitmq/port.ts';
import type { Fact } from '../../machines/events.ts';
import { brokerConfigOf, type Effect, pollUntil } from './deps.ts';
import { need } from './required-context.ts';

/** How often a wait for the source's backlog logs how many messages it still waits for. */
export const BACKLOG_LOG_EVERY_MS = 5_000;

/**
 * Checkpointing, first: topology + replay queue bound BEFORE the checkpoint (no loss window).
 *
 * Then: wait until the source has received every message published before the bind. The replay
 * queue holds only messages published after it; one published before, still waiting in the primary queue when
 * the source is checkpointed, would be taken and acknowledged by the source after the checkpoint, and never
 * reach the target (neither in the checkpointed memory nor in the replay queue). Once all of them are delivered,
 * each is in the source's memory at the checkpoint: processed, or held to be processed next, which the
 * restored target does too (docs/migration-notes.md). The wait is bounded by the Checkpointing deadline: a source
 * that does not work its backlog off in time fails the migration, compensated, nothing lost. Sequential waits
 * too: its source keeps consuming from the checkpoint until the scale-down stops it, so the same messages
 * would be taken and acknowledged by a source whose state is thrown away. A restart re-binds (idempotent) and waits again; the replay queue has been bound since the first bind, so the
 * reading stays exact.
 */
export const prepareBroker: Effect = async ({ ctx, key }, env) => {
  const { deps } = env;
  const cfg = await brokerConfigOf(ctx, deps);
  await deps.broker.ensureTopology(cfg, `${key}:topology`);
  const queue = await deps.broker.createReplayQueue(cfg, key);
  const { clock } = deps;
  const since = clock.now();
  let loggedAt = Number.NEGATIVE_INFINITY;
  await pollUntil(env, async () => {
    const undelivered = await deps.broker.undeliveredBeforeReplay(cfg);
    if (undelivered === 0) return true;
    if (clock.now() - loggedAt >= BACKLOG_LOG_EVERY_MS) {
      loggedAt = clock.now();
      deps.logger.info(
        { queue: cfg.queueName, undelivered, waitedMs: clock.now() - since },
        `Waiting for the source to take the ${undelivered} message(s) queued before the replay queue`,
      );
    }
    return undefined;
  });
  return { type: 'ReplayQueueCreated', data: { queue } };
};

/** Replaying: tell the restored target to consume the replay queue. */
export const startReplay: Effect = async ({ ctx, key }, { deps }) => {
  const cfg = await brokerConfigOf(ctx, deps);
  const target = need(ctx, 'targetPod');
  const queue = need(ctx, 'replayQueue');
  await deps.broker.sendControl(cfg, target, startReplayMessage(queue), key);
  return { type: 'ReplayStarted', data: { queue, controlQueue: controlQueueName(target) } };
};

/**
 * Stop the source consumer, THEN unbind the replay queue: messages that arrive in between sit in both queues
 * (the target de-duplicates), none reach only the stopped source. Sequential: the source is gone already.
 */
/** How long the cutoff waits for the source to stop consuming before it unbinds the replay queue anyway. */
export const SOURCE_STOP_WAIT_MS = 10_000;

export const stopSource: Effect = async ({ ctx, key }, env) => {
  const { deps } = env;
  const cfg = await brokerConfigOf(ctx, deps);
  if (ctx.strategy === 'ShadowPod') {
    const before = (await deps.broker.consumerCount(cfg, cfg.queueName)) ?? 0;
    await deps.broker.sendControl(cfg, ctx.spec.sourcePod, { type: 'STOP_CONSUMING' }, `${key}:stop-consuming`);
    // Unbind only once the source has really stopped: a message published after the unbind reaches the primary
    // queue alone, and one the source still takes then is one the target never sees (lost). A consumer that
    // ignores STOP_CONSUMING is waited for SOURCE_STOP_WAIT_MS at most.
    const { clock } = deps;
    const until = clock.now() + SOURCE_STOP_WAIT_MS;
    const stopped = await pollUntil(env, async () => {
      const now = (await deps.broker.consumerCount(cfg, cfg.queueName)) ?? 0;
      if (now < before || now === 0) return true;
      return clock.now() >= until ? false : undefined;
    });
    if (!stopped)
      deps.logger.warn(
        { queue: cfg.queueName, pod: ctx.spec.sourcePod, waitedMs: SOURCE_STOP_WAIT_MS },
        'The source did not stop consuming after STOP_CONSUMING; unbinding the replay queue anyway',
      );
  }
  await deps.broker.unbindReplayQueue(cfg, key);
  return { type: 'SourceStopped', data: { replayQueueUnbound: true } };
};

/**
 * Samples the replay queue every pollMs. Records a sample at once when the queue reaches 0, nothing is ready any
 * more, or the reading settles (the chart acts on those), otherwise at most once per heartbeat, and at least once
 * per heartbeat so time reaches the chart (cutoff, stall). Once the source has stopped (the step runs again after
 * SourceStopped), a reading with nothing ready is `drained` (machines/events.ts). Never returns: the chart stops it.
 */
export const monitorReplay: Effect = async ({ ctx }, { deps, emit, signal }) => {
  const cfg = await brokerConfigOf(ctx, deps);
  const queue = need(ctx, 'replayQueue');
  const unbound = ctx.replay.sourceStopped === true;
  const { clock } = deps;
  let last: Fact | undefined;
  let lastAt = Number.NEGATIVE_INFINITY;
  for (;;) {
    const d = await deps.broker.depth(cfg, queue);
    const fact: Fact = {
      type: 'ReplayDepthSampled',
      data: {
        depth: d.depth,
        ready: d.ready,
        unacked: d.unacked,
        consumerRate: d.consumerRate,
        producerRate: d.producerRate,
        settled: d.settled,
        drained: unbound && d.ready === 0,
      },
    };
    const prev = last?.type === 'ReplayDepthSampled' ? last.data : undefined;
    const decisive =
      prev === undefined ||
      (d.depth === 0 && prev.depth !== 0) ||
      (d.ready === 0 && prev.ready !== 0) ||
      d.settled !== prev.settled;
    if (decisive || clock.now() - lastAt >= deps.sampleHeartbeatMs) {
      await emit(fact);
      last = fact;
      lastAt = clock.now();
    }
    await clock.sleepUntil(clock.now() + deps.pollMs, signal);
  }
};

/** Finalizing: the target switches to its primary queue. */
export const endReplay: Effect = async ({ ctx, key }, { deps }) => {
  const cfg = await brokerConfigOf(ctx, deps);
  await deps.broker.sendControl(cfg, need(ctx, 'targetPod'), endReplayMessage(), key);
  return { type: 'ReplayEnded', data: {} };
};

/**
 * Finalizing, after END_REPLAY: delete the replay queue once the target has switched to its primary queue (it
 * consumes the primary queue and no longer the replay queue: AMQP's fresh consumer counts). The replay may have
 * ended with deliveries still held by the target (`drained`); a consumer finishes and acks them before it takes
 * from the primary queue, and deleting the queue under unacked deliveries would fail those acks. A target that
 * has not switched after `drainStallSeconds`: if nothing consumes the primary queue, the target is stuck and the
 * primary queue holds every message since the source stopped, so the step fails (TARGET_NOT_SWITCHED) and the
 * compensation resumes the source and deletes the target, losing nothing; if something does consume it (a
 * target that kept both queues, a source that ignored STOP_CONSUMING), rolling back could lose what it took, so
 * the queue is deleted anyway, with a warning.
 */
export const deleteReplayQueue: Effect = async ({ ctx, key }, env) => {
  const { deps } = env;
  const cfg = await brokerConfigOf(ctx, deps);
  const replay = ctx.replayQueue;
  if (replay !== undefined) {
    const { clock } = deps;
    const waitMs = ctx.spec.drainStallSeconds * 1000;
    const until = clock.now() + waitMs;
    let onPrimary = 0;
    const switched = await pollUntil(env, async () => {
      const onReplay = (await deps.broker.consumerCount(cfg, replay)) ?? 0;
      onPrimary = (await deps.broker.consumerCount(cfg, cfg.queueName)) ?? 0;
      if (onReplay === 0 && onPrimary > 0) return true;
      return clock.now() >= until ? false : undefined;
    });
    const target = ctx.targetPod ?? 'the target';
    if (!switched && onPrimary > 0)
      deps.logger.warn(
        { queue: replay, pod: target, waitedSeconds: ctx.spec.drainStallSeconds },
        'The target still consumes the replay queue after END_REPLAY while the primary queue has a consumer; deleting the replay queue anyway',
      );
    else if (!switched) {
      throw new Ms2mError(
        ErrorCode.TARGET_NOT_SWITCHED,
        `Pod ${target} did not switch from ${replay} to ${cfg.queueName} within ${ctx.spec.drainStallSeconds}s of END_REPLAY (nothing consumes ${cfg.queueName}): it may be stuck handling a message; check its logs, or raise spec.drainStallSeconds for a slow handler`,
        { details: { pod: target, queue: replay } },
      );
    }
  }
  await deps.broker.deleteReplayQueue(cfg, key);
  return { type: 'ReplayQueueDeleted', data: {} };
};
