/** Every step of the chart -> its effect. The host provides these to the machine. */
import type { Step } from '../../machines/events.ts';
import { takeCheckpoint, transferCheckpoint } from './checkpoint.ts';
import { compensate } from './compensate.ts';
import type { Effect } from './deps.ts';
import { awaitSourceReleased, deleteSourcePod, handOverTarget } from './finalize.ts';
import { deleteReplayQueue, endReplay, monitorReplay, prepareBroker, startReplay, stopSource } from './replay-queue.ts';
import { inspectSource } from './source.ts';
import { awaitSourceGone, recordReplicas, releaseTarget, restoreReplicas, scaleDownSource } from './statefulset.ts';
import { awaitTargetReady, createTargetPod } from './target-pod.ts';

export const effects: Record<Step, Effect> = {
  inspectSource,
  prepareBroker,
  takeCheckpoint,
  transferCheckpoint,
  recordReplicas,
  scaleDownSource,
  awaitSourceGone,
  createTargetPod,
  awaitTargetReady,
  startReplay,
  stopSource,
  monitorReplay,
  endReplay,
  deleteReplayQueue,
  deleteSourcePod,
  handOverTarget,
  awaitSourceReleased,
  releaseTarget,
  restoreReplicas,
  compensate,
};
