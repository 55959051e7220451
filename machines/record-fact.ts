/**
 * How each fact changes what a migration remembers. Control flow (which phase comes next) is the chart's;
 * this reducer only records data, so the chart reads like the phase table.
 */
import type { MigrationContext } from './context.ts';
import { computeCutoff } from './cutoff.ts';
import type { EventData, MachineEvent } from './events.ts';

/**
 * The replay record after a depth sample: rates, the cutoff (computed once, from the first rates), the last depth
 * and when it last decreased. The replay guards judge this without building the whole next context.
 */
export function replayAfterSample(
  ctx: Pick<MigrationContext, 'spec' | 'replay'>,
  d: EventData['ReplayDepthSampled'],
  at: number,
): MigrationContext['replay'] {
  const mu = d.consumerRate ?? ctx.replay.mu;
  const lambda = d.producerRate ?? ctx.replay.lambda;
  const decreased = ctx.replay.lastDepth === undefined || d.depth < ctx.replay.lastDepth;
  const cutoff =
    ctx.replay.cutoff ??
    (ctx.spec.replayMode === 'Cutoff' && (mu !== undefined || (ctx.spec.replayCutoffSeconds ?? 0) > 0)
      ? computeCutoff(ctx.spec.replayCutoffSeconds, ctx.spec.replayMaxSeconds, mu, lambda)
      : undefined);
  return {
    ...ctx.replay,
    mu,
    lambda,
    cutoff,
    lastDepth: d.depth,
    lastDecreaseAt: decreased ? at : ctx.replay.lastDecreaseAt,
  };
}

export function recordFact(ctx: MigrationContext, event: MachineEvent): MigrationContext {
  const next: MigrationContext = { ...ctx, now: Math.max(ctx.now, event.at) };
  switch (event.type) {
    case 'SourceInspected': {
      const d = event.data;
      next.source = {
        node: d.sourceNode,
        uid: d.sourceUid,
        containerName: d.containerName,
        containers: d.containers,
        labels: d.labels,
        podSpec: d.podSpec,
        owner: d.owner,
      };
      next.strategy = ctx.spec.migrationStrategy ?? (d.owner.kind === 'StatefulSet' ? 'Sequential' : 'ShadowPod');
      if (d.owner.kind === 'StatefulSet') next.statefulSetName = d.owner.name;
      next.message = `Inspected Pod ${ctx.spec.sourcePod} on node ${d.sourceNode}: strategy ${next.strategy}`;
      break;
    }
    case 'ReplayQueueCreated':
      next.replayQueue = event.data.queue;
      next.done = { ...ctx.done, replayQueueCreated: true };
      next.message = `Created replay queue ${event.data.queue}`;
      break;
    case 'CheckpointCreated':
      next.checkpoint = { path: event.data.path, sizeBytes: event.data.sizeBytes };
      next.done = { ...ctx.done, checkpointTaken: true };
      next.progress = { ...ctx.progress, bytesTotal: event.data.sizeBytes ?? ctx.progress.bytesTotal };
      next.message = `Created checkpoint ${event.data.path}`;
      break;
    case 'TransferProgressed':
      next.progress = {
        ...ctx.progress,
        bytesTransferred: event.data.bytesTransferred,
        bytesTotal: event.data.bytesTotal,
      };
      break;
    case 'TransferCompleted':
      next.image = event.data.image;
      next.done = { ...ctx.done, imageTransferred: true };
      next.progress = { ...ctx.progress, bytesTransferred: event.data.bytes, bytesTotal: event.data.bytes };
      next.message = `Transferred checkpoint image ${event.data.image}`;
      break;
    case 'ReplicasRecorded':
      next.statefulSetName = event.data.statefulSet;
      next.originalReplicas = event.data.originalReplicas;
      break;
    case 'SourceScaledDown':
      next.done = { ...ctx.done, scaledDown: true };
      next.message = `Scaled StatefulSet ${event.data.statefulSet} to 0`;
      break;
    case 'SourcePodGone':
      next.done = { ...ctx.done, sourceGone: true };
      break;
    case 'TargetPodCreated':
      next.targetPod = event.data.pod;
      next.done = { ...ctx.done, targetCreated: true };
      next.message = `Created Pod ${event.data.pod} on node ${ctx.spec.targetNode}`;
      break;
    case 'TargetPodReady':
      next.done = { ...ctx.done, targetReady: true };
      next.message = `Pod ${event.data.pod} is Ready`;
      break;
    case 'ReplayStarted':
      next.replay = { ...ctx.replay, startedAt: event.at };
      next.message = `Started replay from ${event.data.queue}`;
      break;
    case 'SourceStopped':
      next.replay = { ...ctx.replay, sourceStopped: true };
      next.done = { ...ctx.done, sourceStopped: true };
      next.message = 'Stopped the source consumer and unbound the replay queue; the target drains the rest';
      break;
    case 'ReplayDepthSampled': {
      const d = event.data;
      next.replay = replayAfterSample(ctx, d, event.at);
      const { mu } = next.replay;
      next.progress = {
        ...ctx.progress,
        replayDepth: d.depth,
        replayed: ctx.progress.replayed + Math.max(0, (ctx.replay.lastDepth ?? d.depth) - d.depth),
        etaSeconds: mu && mu > 0 ? Math.round((d.depth / mu) * 10) / 10 : undefined,
      };
      break;
    }
    case 'ReplayEnded':
      next.done = { ...ctx.done, replayEnded: true };
      next.message = 'Sent END_REPLAY; the target consumes its primary queue';
      break;
    case 'ReplayQueueDeleted':
      next.done = { ...ctx.done, replayQueueDeleted: true };
      break;
    case 'SourcePodDeleted':
    case 'SourceReleased':
      next.done = { ...ctx.done, sourceDeleted: true };
      next.message = `Deleted source Pod ${ctx.spec.sourcePod}`;
      break;
    case 'TargetHandedOver':
      next.done = { ...ctx.done, targetHandedOver: true };
      break;
    case 'TargetReleased':
      next.done = { ...ctx.done, targetHandedOver: true };
      break;
    case 'StatefulSetRestored':
      next.done = { ...ctx.done, replicasRestored: true };
      next.message = `Scaled StatefulSet ${ctx.statefulSetName} back to ${event.data.replicas}`;
      break;
    case 'CompensationCompleted':
      next.compensation = { actions: event.data.actions, leftovers: event.data.leftovers };
      break;
    default:
      break;
  }
  return next;
}
