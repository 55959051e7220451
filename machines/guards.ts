/**
 * Pure decisions of the chart, kept apart so the chart reads like the phase table and each rule is testable.
 * Replay rules judge the context *after* the sample was recorded (see recordFact).
 */
import type { MigrationContext } from './context.ts';
import type { EventData } from './events.ts';

/** Why an inspected source cannot be migrated as asked (null when it can). */
export function rejectionOf(ctx: MigrationContext, d: EventData['SourceInspected']): string | null {
  const { spec } = ctx;
  if (!d.targetNodeFound) {
    return `Node ${spec.targetNode} not found: set spec.targetNode to an existing node`;
  }
  if (d.sourceNode === spec.targetNode) {
    return `Pod ${spec.sourcePod} already runs on node ${spec.targetNode}: choose another spec.targetNode`;
  }
  if (spec.migrationStrategy === 'ShadowPod' && d.owner.kind === 'StatefulSet') {
    return `Pod ${spec.sourcePod} is owned by StatefulSet ${d.owner.name}: ShadowPod needs an identity swap that is not supported yet; use migrationStrategy Sequential`;
  }
  if (spec.migrationStrategy === 'Sequential' && d.owner.kind !== 'StatefulSet') {
    const owner = d.owner.kind === 'None' ? 'no controller' : `${d.owner.kind} ${d.owner.name ?? ''}`.trim();
    return `Pod ${spec.sourcePod} has ${owner}, not a StatefulSet: Sequential scales a StatefulSet down and back; use migrationStrategy ShadowPod (or leave it unset)`;
  }
  if (spec.transferMode === 'Registry' && !spec.checkpointImageRepository) {
    return 'transferMode Registry needs spec.checkpointImageRepository';
  }
  return null;
}

/** The part of the context the replay rules read (after the sample was recorded). */
export type ReplayJudged = Pick<MigrationContext, 'spec' | 'replay'>;

const since = (at: number, start: number | undefined): number => (start === undefined ? 0 : at - start);

/**
 * The replay is over (judged only once the source has stopped): the reading says nothing can reach the target
 * through the replay queue any more (`drained`: unbound and nothing ready), or the queue is empty by a settled
 * reading (the only rule of logs written before `drained` existed).
 */
export const isDrained = (d: EventData['ReplayDepthSampled']): boolean =>
  d.drained === true || (d.settled && d.depth === 0);

/**
 * The target has caught up: nothing is waiting in the replay queue (`ready` 0, AMQP's own count, which is never
 * stale); what is unacked is being processed. With a live producer the depth itself is rarely 0 at a sample (a
 * message arrives every 1/lambda and is held for the processing time), so waiting for a settled 0 would run the
 * replay into its cutoff, or at least wait out the management statistics' lag. Stopping the source here loses
 * nothing: the target drains the rest after the unbind (`isDrained` ends the replay).
 */
export const isCaughtUp = (d: EventData['ReplayDepthSampled']): boolean => d.ready === 0;

/** Cutoff mode: replay ran for T_cutoff while messages remain. */
export function cutoffReached(after: ReplayJudged, d: EventData['ReplayDepthSampled'], at: number): boolean {
  const cutoff = after.replay.cutoff;
  if (after.spec.replayMode !== 'Cutoff' || !cutoff) return false;
  return d.depth > 0 && since(at, after.replay.startedAt) >= cutoff.seconds * 1000;
}

/** Drain mode: depth has not decreased for `drainStallSeconds`. */
export function drainStalled(after: ReplayJudged, d: EventData['ReplayDepthSampled'], at: number): boolean {
  if (after.spec.replayMode !== 'Drain' || d.depth === 0) return false;
  return since(at, after.replay.lastDecreaseAt) >= after.spec.drainStallSeconds * 1000;
}

/** Drain mode: replay ran past replayMaxSeconds, the hard limit. */
export function drainTooLong(after: ReplayJudged, d: EventData['ReplayDepthSampled'], at: number): boolean {
  return (
    after.spec.replayMode === 'Drain' &&
    d.depth > 0 &&
    since(at, after.replay.startedAt) >= after.spec.replayMaxSeconds * 1000
  );
}
