/**
 * The VolumeResize chart: shrinks the volumes of a StatefulSet by copying each claim to a smaller one.
 *
 *   Pending -> Validating -> (plan written; dryRun: Completed) -> Syncing -> Replacing -> Completed
 *   a validation failure -> Failed (nothing changed)
 *   any step failure, deadline or cancel -> rollingBack -> Failed (old PVs retained, data reachable)
 *
 * Within a phase a router state asks volume-resize-plan.ts `nextStep` what comes next (replica by replica,
 * volume by volume) and enters that step; each step's fact marks it done and returns to the router. So a log
 * folded after a crash resumes at the first step not yet done, and a copy that finished is never run again.
 * Effects are provided by the host (actors/host.ts); this file stays pure.
 */
import { assign, setup } from 'xstate';
import type { StepInput as ChartStepInput } from './chart.ts';
import * as runtime from './step-runtime.ts';
import {
  initialVrContext,
  type VolumeResizeContext,
  type VolumeResizeInput,
  vrStepKey,
} from './volume-resize-context.ts';
import type { VrEvent, VrStep } from './volume-resize-events.ts';
import { rolledBackMessage, vrFailWith } from './volume-resize-failure.ts';
import { buildPlan, nextStep } from './volume-resize-plan.ts';
import { recordVrFact } from './volume-resize-record.ts';
import { type VrActivePhase, vrRetryDelayMs } from './volume-resize-spec.ts';
import { inspectionFailure, usageFailure } from './volume-resize-validation.ts';

export type VrStepInput = ChartStepInput<VrStep, VrActivePhase>;

const effect = (step: VrStep) => runtime.hostEffect<VrStep, VrActivePhase>(step);

const rejection = (ctx: VolumeResizeContext, event: VrEvent) => {
  if (event.type === 'StatefulSetInspected') return inspectionFailure(ctx, event.data);
  if (event.type === 'UsageMeasured') return usageFailure(ctx, event.data);
  return null;
};

const retryPolicy: runtime.RetryPolicy<VolumeResizeContext['spec']> = {
  undoStep: 'rollback',
  undoing: 'rollback',
  delayMs: vrRetryDelayMs,
};

export const vrSetup = setup({
  types: {} as { context: VolumeResizeContext; events: VrEvent; input: VolumeResizeInput },
  actors: {
    inspect: effect('inspect'),
    measureUsage: effect('measureUsage'),
    recordOriginals: effect('recordOriginals'),
    createTempClaim: effect('createTempClaim'),
    awaitTempBound: effect('awaitTempBound'),
    retainOldVolume: effect('retainOldVolume'),
    preSync: effect('preSync'),
    orphanStatefulSet: effect('orphanStatefulSet'),
    deleteReplicaPod: effect('deleteReplicaPod'),
    copyVolume: effect('copyVolume'),
    removeMigrator: effect('removeMigrator'),
    retainNewVolume: effect('retainNewVolume'),
    deleteTempClaim: effect('deleteTempClaim'),
    clearNewClaimRef: effect('clearNewClaimRef'),
    deleteOriginalClaim: effect('deleteOriginalClaim'),
    bindOriginalClaim: effect('bindOriginalClaim'),
    recreateStatefulSet: effect('recreateStatefulSet'),
    awaitReplicasReady: effect('awaitReplicasReady'),
    rollback: effect('rollback'),
  },
  guards: {
    isStep: ({ event }, p: { step: VrStep }) => runtime.isStepFailure(event, p.step),
    canRetry: ({ context, event }, p: { step: VrStep }) => runtime.canRetryStep(context, event, p.step),
    isPhaseDeadline: ({ context, event }) => runtime.isPhaseDeadline(context, event),
    next: ({ context }, p: { step: VrStep }) => nextStep(context)?.step === p.step,
    rejected: ({ context, event }) => rejection(context, event) !== null,
    isDryRun: ({ context }) => context.spec.dryRun,
  },
  actions: {
    record: assign(({ context, event }) => recordVrFact(context, event)),
    enterPhase: assign(({ context, event }, p: { phase: VolumeResizeContext['phase'] }) =>
      runtime.enterPhase(context, event, p.phase),
    ),
    setCurrent: assign(({ context }) => {
      const n = nextStep(context);
      if (!n) return { current: undefined };
      const u = n.unit === undefined ? undefined : context.units[n.unit];
      return { current: { step: n.step, replica: u?.replica ?? n.replica, volume: u?.volume } };
    }),
    countAttempt: assign(({ context, event }, p: { step: VrStep }) => runtime.countAttempt(context, event, p.step)),
    scheduleRetry: assign(({ context, event }) => runtime.scheduleRetry(context, event, retryPolicy)),
    fail: assign(({ context, event }, p: { reason: 'StepFailed' | 'DeadlineExceeded' | 'Cancelled' }) =>
      vrFailWith(context, event, p.reason),
    ),
    reject: assign(({ context, event }) => {
      const recorded = recordVrFact(context, event);
      return vrFailWith(recorded, event, 'ValidationFailed', rejection(context, event) ?? undefined);
    }),
    makePlan: assign(({ context }) => {
      const plan = buildPlan(context);
      return {
        plan,
        message: context.spec.dryRun
          ? `Dry run: validated; the plan has ${plan.length} steps, nothing was changed`
          : `Validated; the plan has ${plan.length} steps`,
      };
    }),
    rolledBack: assign(({ context }) => ({ message: rolledBackMessage(context) })),
    finish: assign(({ context, event }) => ({
      completionTime: event.at,
      now: Math.max(context.now, event.at),
      current: undefined,
    })),
  },
});

type MachineConfig = Parameters<typeof vrSetup.createMachine>[0];
type StateConfig = NonNullable<MachineConfig['states']>[string];
type Transitions = NonNullable<StateConfig['on']>;

const layout: runtime.StepLayout<VolumeResizeContext, VrStep> = {
  idPrefix: 'vr-step-',
  failTarget: '#vr.rollingBack',
  key: (context, name) => {
    const cur = context.current?.step === name ? context.current : undefined;
    return vrStepKey(context.resizeId, name, cur?.replica, cur?.volume);
  },
};

/** A step: one invoked effect; transient failures retry with backoff, a final one rolls back. */
const step = (name: VrStep, on: Transitions, opts: { retryForever?: boolean } = {}): StateConfig =>
  runtime.stepNode(layout, name, on, opts) as StateConfig;

const back = { target: 'route', actions: 'record' as const };

/** A phase run by its router: every listed step, each entered when nextStep names it, then `done`. */
function routedPhase(name: VrActivePhase, steps: Record<string, StateConfig>, done: object): StateConfig {
  const node = {
    ...runtime.phaseNode(name, '#vr.rollingBack'),
    initial: 'route',
    states: {
      route: {
        entry: 'setCurrent',
        always: [...Object.keys(steps).map((s) => ({ guard: { type: 'next', params: { step: s } }, target: s })), done],
      },
      ...steps,
    },
  };
  return node as StateConfig;
}

export const volumeResizeMachine = vrSetup.createMachine({
  id: 'vr',
  context: ({ input }) => initialVrContext(input),
  initial: 'active',
  states: {
    active: {
      initial: 'Pending',
      on: {
        CancelRequested: { target: '#vr.rollingBack', actions: { type: 'fail', params: { reason: 'Cancelled' } } },
      },
      states: {
        Pending: { always: { target: '#vr.active.Validating' } },
        Validating: routedPhase(
          'Validating',
          {
            inspect: step('inspect', {
              StatefulSetInspected: [{ guard: 'rejected', target: '#vr.Failed', actions: 'reject' }, back],
            }),
            measureUsage: step('measureUsage', {
              UsageMeasured: [{ guard: 'rejected', target: '#vr.Failed', actions: 'reject' }, back],
            }),
          },
          { target: '#vr.active.planned' },
        ),
        planned: {
          entry: 'makePlan',
          always: [{ guard: 'isDryRun', target: '#vr.Completed' }, { target: '#vr.active.Syncing' }],
        },
        Syncing: routedPhase(
          'Syncing',
          {
            recordOriginals: step('recordOriginals', { OriginalsRecorded: back }),
            createTempClaim: step('createTempClaim', { TempClaimCreated: back }),
            awaitTempBound: step('awaitTempBound', { TempClaimBound: back }),
            retainOldVolume: step('retainOldVolume', { OldVolumeRetained: back }),
            preSync: step('preSync', { CopyProgressed: { actions: 'record' }, PreSyncCompleted: back }),
            orphanStatefulSet: step('orphanStatefulSet', { StatefulSetOrphaned: back }),
            deleteReplicaPod: step('deleteReplicaPod', { ReplicaPodDeleted: back }),
            copyVolume: step('copyVolume', { CopyProgressed: { actions: 'record' }, VolumeCopied: back }),
            removeMigrator: step('removeMigrator', { MigratorRemoved: back }),
          },
          { target: '#vr.active.Replacing' },
        ),
        Replacing: routedPhase(
          'Replacing',
          {
            retainNewVolume: step('retainNewVolume', { NewVolumeRetained: back }),
            deleteTempClaim: step('deleteTempClaim', { TempClaimDeleted: back }),
            clearNewClaimRef: step('clearNewClaimRef', { NewClaimRefCleared: back }),
            deleteOriginalClaim: step('deleteOriginalClaim', { OriginalClaimDeleted: back }),
            bindOriginalClaim: step('bindOriginalClaim', { OriginalClaimRebound: back }),
            recreateStatefulSet: step('recreateStatefulSet', { StatefulSetRecreated: back }),
            awaitReplicasReady: step('awaitReplicasReady', { ReplicasReady: back }),
          },
          { target: '#vr.Completed' },
        ),
      },
    },
    // undo what was done, keep every old PV retained, say where the data is
    rollingBack: step(
      'rollback',
      { RollbackCompleted: { target: 'Failed', actions: ['record', 'rolledBack'] } },
      { retryForever: true },
    ),
    Completed: { type: 'final', entry: [{ type: 'enterPhase', params: { phase: 'Completed' } }, 'finish'] },
    Failed: { type: 'final', entry: [{ type: 'enterPhase', params: { phase: 'Failed' } }, 'finish'] },
  },
});
