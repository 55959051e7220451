/**
 * The StatefulMigration chart (MS2M). Reads like the phase table of ARCHITECTURE.md §3:
 *
 *   Pending -> Checkpointing -> Transferring -> Restoring -> Replaying -> Finalizing -> Completed
 *   any failure, deadline or cancel -> compensating -> Failed
 *
 * Every step invokes an effect by name (`src`); the effects themselves are provided by actors/host.ts with
 * `machine.provide`, so this file stays pure. An effect never answers through `onDone`: it records a fact in the
 * log and the host sends that fact here, which is why the chart transitions only on facts from events.ts.
 * Deadlines and retry waits are due times in context that the running step's effect waits for, never `after`
 * delays (those are not persisted).
 *
 * Open it in the Stately visualiser: paste this file with its imports, or run `npm run diagram` for Mermaid.
 */
import { assign, setup } from 'xstate';
import type { StepInput as ChartStepInput } from './chart.ts';
import { effectKey, initialContext, type MigrationContext, type MigrationInput } from './context.ts';
import type { EventData, MachineEvent, Step } from './events.ts';
import { cutoffReached, drainStalled, drainTooLong, isCaughtUp, isDrained, rejectionOf } from './guards.ts';
import { failWith } from './phase-timing.ts';
import { recordFact, replayAfterSample } from './record-fact.ts';

/** What the replay guards judge a sample by: the spec and the replay record as the sample leaves it. */
const replayJudged = (context: MigrationContext, d: EventData['ReplayDepthSampled'], at: number) => ({
  spec: context.spec,
  replay: replayAfterSample(context, d, at),
});

import { type ActivePhase, retryDelayMs } from './spec.ts';
import * as runtime from './step-runtime.ts';

/**
 * What every step's invocation carries (and a persisted snapshot stores): the runtime's step input (chart.ts)
 * with this chart's steps and phases. `key` is `<migrationId>:<step>`, stable across retries and crashes.
 */
export type StepInput = ChartStepInput<Step, ActivePhase>;

const effect = (step: Step) => runtime.hostEffect<Step, ActivePhase>(step);

const sample = (event: MachineEvent) => (event.type === 'ReplayDepthSampled' ? event.data : undefined);

const retryPolicy: runtime.RetryPolicy<MigrationContext['spec']> = {
  undoStep: 'compensate',
  undoing: 'compensation',
  delayMs: retryDelayMs,
};

export const migrationSetup = setup({
  types: {} as { context: MigrationContext; events: MachineEvent; input: MigrationInput },
  actors: {
    inspectSource: effect('inspectSource'),
    prepareBroker: effect('prepareBroker'),
    takeCheckpoint: effect('takeCheckpoint'),
    transferCheckpoint: effect('transferCheckpoint'),
    recordReplicas: effect('recordReplicas'),
    scaleDownSource: effect('scaleDownSource'),
    awaitSourceGone: effect('awaitSourceGone'),
    createTargetPod: effect('createTargetPod'),
    awaitTargetReady: effect('awaitTargetReady'),
    startReplay: effect('startReplay'),
    stopSource: effect('stopSource'),
    monitorReplay: effect('monitorReplay'),
    endReplay: effect('endReplay'),
    deleteReplayQueue: effect('deleteReplayQueue'),
    deleteSourcePod: effect('deleteSourcePod'),
    handOverTarget: effect('handOverTarget'),
    awaitSourceReleased: effect('awaitSourceReleased'),
    releaseTarget: effect('releaseTarget'),
    restoreReplicas: effect('restoreReplicas'),
    compensate: effect('compensate'),
  },
  guards: {
    isStep: ({ event }, p: { step: Step }) => runtime.isStepFailure(event, p.step),
    canRetry: ({ context, event }, p: { step: Step }) => runtime.canRetryStep(context, event, p.step),
    isPhaseDeadline: ({ context, event }) => runtime.isPhaseDeadline(context, event),
    inspectionRejected: ({ context, event }) =>
      event.type === 'SourceInspected' && rejectionOf(context, event.data) !== null,
    isSequential: ({ context }) => context.strategy === 'Sequential',
    isDrainMode: ({ context }) => context.spec.replayMode === 'Drain',
    inFinalizing: ({ context }) => context.phase === 'Finalizing',
    adoptByReplicaSet: ({ context }) =>
      context.source?.owner.kind === 'ReplicaSet' && context.spec.finalizeDeploymentMode === 'Adopt',
    patchDeployment: ({ context }) =>
      context.source?.owner.kind === 'ReplicaSet' && context.spec.finalizeDeploymentMode === 'PatchAffinity',
    replayFinished: ({ context, event }) => {
      const d = sample(event);
      return d !== undefined && context.replay.sourceStopped && isDrained(d);
    },
    mustStopSource: ({ context, event }) => {
      const d = sample(event);
      if (d === undefined || context.replay.sourceStopped) return false;
      return isCaughtUp(d) || cutoffReached(replayJudged(context, d, event.at), d, event.at);
    },
    replayStalled: ({ context, event }) => {
      const d = sample(event);
      return d !== undefined && drainStalled(replayJudged(context, d, event.at), d, event.at);
    },
    replayTooLong: ({ context, event }) => {
      const d = sample(event);
      return d !== undefined && drainTooLong(replayJudged(context, d, event.at), d, event.at);
    },
  },
  actions: {
    record: assign(({ context, event }) => recordFact(context, event)),
    enterPhase: assign(({ context, event }, p: { phase: MigrationContext['phase'] }) =>
      runtime.enterPhase(context, event, p.phase),
    ),
    countAttempt: assign(({ context, event }, p: { step: Step }) => runtime.countAttempt(context, event, p.step)),
    scheduleRetry: assign(({ context, event }) => runtime.scheduleRetry(context, event, retryPolicy)),
    fail: assign(({ context, event }, p: { reason: NonNullable<MigrationContext['failure']>['reason'] }) =>
      failWith(recordFact(context, event), event, p.reason),
    ),
    ignoreCancel: assign(({ event }) => ({
      cancelRequested: {
        at: event.at,
        reason: event.type === 'CancelRequested' ? event.data.reason : 'cancel',
        ignored: true,
      },
      message: 'Cancel ignored: the migration was already finalizing, and finishing is the safe way out',
    })),
    finish: assign(({ context, event }) => ({ completionTime: event.at, now: Math.max(context.now, event.at) })),
  },
});

type MachineConfig = Parameters<typeof migrationSetup.createMachine>[0];
/** A state node of this chart; the builders below are checked against it at their boundary. */
type StateConfig = NonNullable<MachineConfig['states']>[string];
type Transitions = NonNullable<StateConfig['on']>;

const layout: runtime.StepLayout<MigrationContext, Step> = {
  idPrefix: 'step-',
  failTarget: '#migration.compensating',
  key: (context, name) => effectKey(context.migrationId, name),
};

/** A step: one invoked effect, retried with backoff; a final failure compensates (step-runtime.ts `stepNode`). */
const step = (name: Step, on: Transitions, opts: { retryForever?: boolean } = {}): StateConfig =>
  runtime.stepNode(layout, name, on, opts) as StateConfig;

/** A phase: timing on entry; its deadline is enforced by the running step (see StepInput.deadline). */
const phase = (name: ActivePhase, config: Pick<StateConfig, 'initial' | 'states'>): StateConfig =>
  ({ ...runtime.phaseNode(name, '#migration.compensating'), ...config }) as StateConfig;

const go = (target: string) => ({ target, actions: 'record' as const });

export const migrationMachine = migrationSetup.createMachine({
  id: 'migration',
  context: ({ input }) => initialContext(input),
  initial: 'active',
  states: {
    active: {
      initial: 'Pending',
      on: {
        CancelRequested: [
          { guard: 'inFinalizing', actions: 'ignoreCancel' },
          { target: '#migration.compensating', actions: { type: 'fail', params: { reason: 'Cancelled' } } },
        ],
      },
      states: {
        Pending: phase('Pending', {
          initial: 'inspectSource',
          states: {
            inspectSource: step('inspectSource', {
              SourceInspected: [
                {
                  guard: 'inspectionRejected',
                  target: '#migration.Failed',
                  actions: { type: 'fail', params: { reason: 'Rejected' } },
                },
                go('#migration.active.Checkpointing'),
              ],
            }),
          },
        }),
        Checkpointing: phase('Checkpointing', {
          initial: 'prepareBroker',
          states: {
            // the replay queue is bound BEFORE the checkpoint: no message after the checkpoint can be missed
            prepareBroker: step('prepareBroker', { ReplayQueueCreated: go('takeCheckpoint') }),
            takeCheckpoint: step('takeCheckpoint', { CheckpointCreated: go('#migration.active.Transferring') }),
          },
        }),
        Transferring: phase('Transferring', {
          initial: 'transferCheckpoint',
          states: {
            transferCheckpoint: step('transferCheckpoint', {
              TransferProgressed: { actions: 'record' },
              TransferCompleted: go('#migration.active.Restoring'),
            }),
          },
        }),
        Restoring: phase('Restoring', {
          initial: 'route',
          states: {
            route: { always: [{ guard: 'isSequential', target: 'recordReplicas' }, { target: 'createTargetPod' }] },
            // Sequential: save replicas (write-ahead), scale to 0, wait for the source to go, same name on target
            recordReplicas: step('recordReplicas', { ReplicasRecorded: go('scaleDownSource') }),
            scaleDownSource: step('scaleDownSource', { SourceScaledDown: go('awaitSourceGone') }),
            awaitSourceGone: step('awaitSourceGone', { SourcePodGone: go('createTargetPod') }),
            createTargetPod: step('createTargetPod', { TargetPodCreated: go('awaitTargetReady') }),
            awaitTargetReady: step('awaitTargetReady', { TargetPodReady: go('#migration.active.Replaying') }),
          },
        }),
        Replaying: phase('Replaying', {
          initial: 'startReplay',
          states: {
            startReplay: step('startReplay', {
              ReplayStarted: [{ guard: 'isDrainMode', target: 'stopSource', actions: 'record' }, go('monitorReplay')],
            }),
            // stop the source consumer, THEN unbind the replay queue: every message reaches the target
            stopSource: step('stopSource', { SourceStopped: go('monitorReplay') }),
            monitorReplay: step('monitorReplay', {
              ReplayDepthSampled: [
                { guard: 'replayFinished', ...go('#migration.active.Finalizing') },
                { guard: 'mustStopSource', ...go('stopSource') },
                {
                  guard: 'replayStalled',
                  target: '#migration.compensating',
                  actions: { type: 'fail', params: { reason: 'ReplayStalled' } },
                },
                {
                  guard: 'replayTooLong',
                  target: '#migration.compensating',
                  actions: { type: 'fail', params: { reason: 'ReplayTimeout' } },
                },
                { actions: 'record' },
              ],
            }),
          },
        }),
        Finalizing: phase('Finalizing', {
          initial: 'endReplay',
          states: {
            endReplay: step('endReplay', { ReplayEnded: go('deleteReplayQueue') }),
            deleteReplayQueue: step('deleteReplayQueue', { ReplayQueueDeleted: go('route') }),
            route: {
              always: [
                { guard: 'isSequential', target: 'releaseTarget' },
                { guard: 'adoptByReplicaSet', target: 'handOverTarget' },
                { guard: 'patchDeployment', target: 'handOverTarget' },
                { target: 'deleteSourcePod' },
              ],
            },
            handOverTarget: step('handOverTarget', {
              TargetHandedOver: [{ guard: 'adoptByReplicaSet', ...go('awaitSourceReleased') }, go('deleteSourcePod')],
            }),
            awaitSourceReleased: step('awaitSourceReleased', { SourceReleased: go('#migration.Completed') }),
            deleteSourcePod: step('deleteSourcePod', { SourcePodDeleted: go('#migration.Completed') }),
            releaseTarget: step('releaseTarget', { TargetReleased: go('restoreReplicas') }),
            restoreReplicas: step('restoreReplicas', { StatefulSetRestored: go('#migration.Completed') }),
          },
        }),
      },
    },
    // undo what was done (delete the shadow pod, restore replicas, delete the replay queue), leave the source serving
    compensating: step('compensate', { CompensationCompleted: go('Failed') }, { retryForever: true }),
    Completed: { type: 'final', entry: [{ type: 'enterPhase', params: { phase: 'Completed' } }, 'finish'] },
    Failed: { type: 'final', entry: [{ type: 'enterPhase', params: { phase: 'Failed' } }, 'finish'] },
  },
});
