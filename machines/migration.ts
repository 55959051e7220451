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
import { assign, fromPromise, setup } from 'xstate';
import type { StepInput as ChartStepInput } from './chart.ts';
import { effectKey, initialContext, type MigrationContext, type MigrationInput } from './context.ts';
import type { EventData, MachineEvent, Step } from './events.ts';
import { cutoffReached, drainStalled, drainTooLong, isCaughtUp, isDrained, rejectionOf } from './guards.ts';
import { closePhase, failWith } from './phase-timing.ts';
import { recordFact, replayAfterSample } from './record-fact.ts';

/** What the replay guards judge a sample by: the spec and the replay record as the sample leaves it. */
const replayJudged = (context: MigrationContext, d: EventData['ReplayDepthSampled'], at: number) => ({
  spec: context.spec,
  replay: replayAfterSample(context, d, at),
});

import { type ActivePhase, retryDelayMs } from './spec.ts';

/**
 * What every step's invocation carries (and a persisted snapshot stores): the runtime's step input (chart.ts)
 * with this chart's steps and phases. `key` is `<migrationId>:<step>`, stable across retries and crashes.
 */
export type StepInput = ChartStepInput<Step, ActivePhase>;

const effect = (step: Step) =>
  fromPromise<void, StepInput>(async () => {
    throw new Error(
      `Effect ${step} runs only inside a host (actors/host.ts), which provides it with machine.provide()`,
    );
  });

const sample = (event: MachineEvent) => (event.type === 'ReplayDepthSampled' ? event.data : undefined);

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
    isStep: ({ event }, p: { step: Step }) => event.type === 'StepFailed' && event.data.step === p.step,
    canRetry: ({ context, event }, p: { step: Step }) =>
      event.type === 'StepFailed' &&
      event.data.step === p.step &&
      event.data.transient &&
      event.data.attempt < context.spec.maxAttempts,
    isPhaseDeadline: ({ context, event }) => event.type === 'DeadlineExceeded' && event.data.phase === context.phase,
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
    enterPhase: assign(({ context, event }, p: { phase: MigrationContext['phase'] }) => {
      const at = 'at' in event && typeof event.at === 'number' ? event.at : context.now;
      if (p.phase === context.phase) return {};
      return { ...closePhase(context, at), phase: p.phase, phaseStartedAt: at, now: Math.max(context.now, at) };
    }),
    // re-entered after its own failure: the next attempt; any other entry starts again at 1
    countAttempt: assign(({ context, event }, p: { step: Step }) => ({
      attempts: {
        ...context.attempts,
        [p.step]: event.type === 'StepFailed' && event.data.step === p.step ? event.data.attempt + 1 : 1,
      },
    })),
    scheduleRetry: assign(({ context, event }) => {
      if (event.type !== 'StepFailed') return {};
      const { step, attempt, message } = event.data;
      return {
        retry: { step, attempt: attempt + 1, at: event.at + retryDelayMs(context.spec, attempt) },
        message:
          step === 'compensate'
            ? `${context.failure?.message ?? 'Failed'}; compensation attempt ${attempt} failed, retrying: ${message}`
            : `Step ${step} failed (attempt ${attempt} of ${context.spec.maxAttempts}), retrying: ${message}`,
      };
    }),
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

/**
 * A step: one invoked effect. A transient failure re-enters the step, whose effect then waits until the backoff
 * has passed (`notBefore` in its input, from context); a final failure compensates. The phase deadline rides
 * along in the input too: the effect's runner records DeadlineExceeded when it passes first.
 * `retryForever` (compensation): every failure is retried with capped backoff, since giving up would leave the
 * service broken (a StatefulSet at 0 replicas); the status message shows each failed attempt meanwhile.
 */
function step(name: Step, on: Transitions, opts: { retryForever?: boolean } = {}): StateConfig {
  const retry = {
    guard: { type: 'isStep', params: { step: name } },
    target: `#step-${name}`,
    reenter: true,
    actions: 'scheduleRetry',
  };
  const onFailure = opts.retryForever
    ? [retry]
    : [
        { ...retry, guard: { type: 'canRetry', params: { step: name } } },
        {
          guard: { type: 'isStep', params: { step: name } },
          target: '#migration.compensating',
          actions: { type: 'fail', params: { reason: 'StepFailed' } },
        },
      ];
  const config = {
    id: `step-${name}`,
    entry: { type: 'countAttempt', params: { step: name } },
    invoke: {
      id: name,
      src: name,
      input: ({ context }: { context: MigrationContext }): StepInput => {
        const attempt = context.attempts[name] ?? 1;
        const phase = context.phase as ActivePhase;
        return {
          step: name,
          key: effectKey(context.migrationId, name),
          attempt,
          notBefore: attempt > 1 && context.retry?.step === name ? context.retry.at : undefined,
          deadline:
            context.failure === undefined
              ? { phase, at: context.phaseStartedAt + context.spec.phaseDeadlines[phase] * 1000 }
              : undefined,
        };
      },
    },
    on: { StepFailed: onFailure, ...on },
  };
  return config as StateConfig;
}

/** A phase: timing on entry; its deadline is enforced by the running step (see StepInput.deadline). */
function phase(name: ActivePhase, config: Pick<StateConfig, 'initial' | 'states'>): StateConfig {
  const node = {
    entry: { type: 'enterPhase', params: { phase: name } },
    on: {
      DeadlineExceeded: {
        guard: 'isPhaseDeadline',
        target: '#migration.compensating',
        actions: { type: 'fail', params: { reason: 'DeadlineExceeded' } },
      },
    },
    ...config,
  };
  return node as StateConfig;
}

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
