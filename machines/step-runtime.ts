/**
 * The step runtime every chart shares (see chart.ts for the protocol): attempts and retries of a step, phase
 * timing, the phase deadline, and the state node of a step. The StatefulMigration and VolumeResize charts differ
 * only in their step names, the state their failures go to (compensating / rollingBack), the words for undoing
 * and how a step's idempotency key is made; those are the parameters here. Pure: no I/O, no xstate `assign`
 * (each chart wraps these in its own `setup`, so its actions keep their names and the fold compiler sees them).
 */
import { fromPromise } from 'xstate';
import type { RuntimeEventData, StepInput } from './chart.ts';

/** The phases every chart ends in; any other phase is active (timed, with a deadline). */
const TERMINAL_PHASES: readonly string[] = ['Completed', 'Failed'];

/** The part of a chart's context the step runtime reads and writes. */
export interface StepRuntimeContext<TStep extends string = string, TPhase extends string = string> {
  phase: string;
  now: number;
  phaseStartedAt: number;
  phaseTimings: Partial<Record<TPhase, number>>;
  attempts: Partial<Record<TStep, number>>;
  retry?: { step: TStep; attempt: number; at: number };
  failure?: { message: string };
  spec: { maxAttempts: number; phaseDeadlines: Record<TPhase, number> };
}

/** Any fact of a chart's catalogue, as the runtime looks at it (the runtime's own facts are narrowed below). */
interface AnyFact {
  type: string;
  at?: number;
  data?: unknown;
}

type StepFailed<TStep extends string> = { type: 'StepFailed'; at: number; data: RuntimeEventData<TStep>['StepFailed'] };

const stepFailed = <TStep extends string>(event: AnyFact): StepFailed<TStep> | undefined =>
  event.type === 'StepFailed' ? (event as StepFailed<TStep>) : undefined;

/** The event is the failure of `step`. */
export const isStepFailure = (event: AnyFact, step: string): boolean => stepFailed(event)?.data.step === step;

/** The event is a transient failure of `step` with attempts left. */
export function canRetryStep(context: StepRuntimeContext, event: AnyFact, step: string): boolean {
  const f = stepFailed(event);
  return f !== undefined && f.data.step === step && f.data.transient && f.data.attempt < context.spec.maxAttempts;
}

/** The event is the deadline of the phase the instance is in. */
export const isPhaseDeadline = (context: StepRuntimeContext, event: AnyFact): boolean =>
  event.type === 'DeadlineExceeded' && (event.data as RuntimeEventData['DeadlineExceeded']).phase === context.phase;

/** Ends the timing of the current phase at `at` (once: a phase that failed is closed when it failed). */
export function closePhase<C extends StepRuntimeContext>(ctx: C, at: number): C {
  const phase = ctx.phase as keyof C['phaseTimings'] & string;
  if (TERMINAL_PHASES.includes(phase) || (ctx.phaseTimings as Record<string, number | undefined>)[phase] !== undefined)
    return ctx;
  return { ...ctx, phaseTimings: { ...ctx.phaseTimings, [phase]: Math.max(0, at - ctx.phaseStartedAt) } };
}

/** Entering `phase`: the previous one's timing closed, the new one started at the event's time. */
export function enterPhase<C extends StepRuntimeContext>(context: C, event: AnyFact, phase: C['phase']): Partial<C> {
  const at = 'at' in event && typeof event.at === 'number' ? event.at : context.now;
  if (phase === context.phase) return {};
  return { ...closePhase(context, at), phase, phaseStartedAt: at, now: Math.max(context.now, at) };
}

/** Entering `step`: re-entered after its own failure it is the next attempt; any other entry starts again at 1. */
export function countAttempt<TStep extends string>(
  context: StepRuntimeContext<TStep>,
  event: AnyFact,
  step: TStep,
): Pick<StepRuntimeContext<TStep>, 'attempts'> {
  const f = stepFailed<TStep>(event);
  return {
    attempts: { ...context.attempts, [step]: f !== undefined && f.data.step === step ? f.data.attempt + 1 : 1 },
  };
}

/** How a chart words and times its retries. */
export interface RetryPolicy<TSpec> {
  /** The step that undoes a failed instance (retried forever) and the noun for it in messages. */
  undoStep: string;
  undoing: string;
  /** Backoff before attempt `attempt + 1`. */
  delayMs(spec: TSpec, attempt: number): number;
}

/** After a failure of the running step: when the next attempt may run (kept in context) and the status message. */
export function scheduleRetry<TStep extends string, C extends StepRuntimeContext<TStep>>(
  context: C,
  event: AnyFact,
  policy: RetryPolicy<C['spec']>,
): Partial<Pick<C, 'retry'> & { message: string }> {
  const f = stepFailed<TStep>(event);
  if (f === undefined) return {};
  const { step, attempt, message } = f.data;
  return {
    retry: { step, attempt: attempt + 1, at: f.at + policy.delayMs(context.spec, attempt) },
    message:
      step === policy.undoStep
        ? `${context.failure?.message ?? 'Failed'}; ${policy.undoing} attempt ${attempt} failed, retrying: ${message}`
        : `Step ${step} failed (attempt ${attempt} of ${context.spec.maxAttempts}), retrying: ${message}`,
  };
}

/** The input of a step's invocation: its attempt, its retry's due time and, unless undoing, the phase deadline. */
export function stepInput<TStep extends string, TPhase extends string>(
  context: StepRuntimeContext<TStep, TPhase>,
  step: TStep,
  key: string,
): StepInput<TStep, TPhase> {
  const attempt = context.attempts[step] ?? 1;
  const phase = context.phase as TPhase;
  return {
    step,
    key,
    attempt,
    notBefore: attempt > 1 && context.retry?.step === step ? context.retry.at : undefined,
    deadline:
      context.failure === undefined
        ? { phase, at: context.phaseStartedAt + context.spec.phaseDeadlines[phase] * 1000 }
        : undefined,
  };
}

/** Where a chart's steps live: the prefix of their state ids and the state a final failure goes to. */
export interface StepLayout<C, TStep extends string> {
  idPrefix: string;
  failTarget: string;
  /** The step's idempotency key (chart.ts StepInput.key). */
  key(context: C, step: TStep): string;
}

/**
 * A step's state node: one invoked effect. A transient failure re-enters the step, whose effect then waits until
 * the backoff has passed (`notBefore` in its input); a final failure goes to `failTarget`. `retryForever` (the
 * undo step): every failure is retried, since giving up would leave the workload broken. The chart's guards
 * `isStep`/`canRetry` and actions `countAttempt`/`scheduleRetry`/`fail` run it.
 */
export function stepNode<TStep extends string, C extends StepRuntimeContext<TStep>>(
  layout: StepLayout<C, TStep>,
  name: TStep,
  on: object,
  opts: { retryForever?: boolean } = {},
): object {
  const retry = {
    guard: { type: 'isStep', params: { step: name } },
    target: `#${layout.idPrefix}${name}`,
    reenter: true,
    actions: 'scheduleRetry',
  };
  const onFailure = opts.retryForever
    ? [retry]
    : [
        { ...retry, guard: { type: 'canRetry', params: { step: name } } },
        {
          guard: { type: 'isStep', params: { step: name } },
          target: layout.failTarget,
          actions: { type: 'fail', params: { reason: 'StepFailed' } },
        },
      ];
  return {
    id: `${layout.idPrefix}${name}`,
    entry: { type: 'countAttempt', params: { step: name } },
    invoke: {
      id: name,
      src: name,
      input: ({ context }: { context: C }) => stepInput(context, name, layout.key(context, name)),
    },
    on: { StepFailed: onFailure, ...on },
  };
}

/** A phase's entry and deadline: timing starts on entry; the deadline of the phase fails to `failTarget`. */
export const phaseNode = (phase: string, failTarget: string) => ({
  entry: { type: 'enterPhase', params: { phase } },
  on: {
    DeadlineExceeded: {
      guard: 'isPhaseDeadline',
      target: failTarget,
      actions: { type: 'fail', params: { reason: 'DeadlineExceeded' } },
    },
  },
});

/** A step's effect as the chart declares it: a placeholder the host replaces with `machine.provide()`. */
export const hostEffect = <TStep extends string, TPhase extends string>(step: TStep) =>
  fromPromise<void, StepInput<TStep, TPhase>>(async () => {
    throw new Error(
      `Effect ${step} runs only inside a host (actors/host.ts), which provides it with machine.provide()`,
    );
  });
