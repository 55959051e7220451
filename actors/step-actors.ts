/**
 * A chart's steps as the xstate actors its machine invokes (the host provides them with `machine.provide`): each
 * runs its step's effect and records the effect's fact (or StepFailed), and watches the phase deadline meanwhile,
 * recording DeadlineExceeded when it passes. Facts go through the host's `record`, so they are appended first.
 */
import { fromPromise } from 'xstate';
import { toMs2mError } from '../adapters/errors.ts';
import type { EventOf, FactOf, StepInput } from '../machines/chart.ts';
import type { StreamKey } from '../machines/envelope.ts';
import {
  type AnyChart,
  ChartDefinitionError,
  type DepsOf,
  type Effect,
  type EffectInput,
  type EffectsOf,
  type RuntimeDeps,
} from './chart.ts';

/** An effect of chart `C`, as the host calls it (the context is the chart's own business). */
type StepEffect<C extends AnyChart> = Effect<unknown, EventOf<C>, string, DepsOf<C>>;

/** The step actor of one step: what `machine.provide({ actors })` takes. */
export type StepActor = ReturnType<typeof fromPromise<void, StepInput>>;

/** What the step actors use of their host. */
export interface StepHost<C extends AnyChart> {
  readonly chart: C;
  readonly key: StreamKey;
  /** What the effects get (the host's deps). */
  readonly deps: DepsOf<C> & RuntimeDeps;
  /** Replace effects (tests). */
  readonly effects?: Partial<EffectsOf<C>>;
  /** The live actor's context (invoked children start after the parent's snapshot is updated). */
  context(): unknown;
  /** Appends a fact, then applies it (the host's `record`). */
  record(fact: FactOf<EventOf<C>>): Promise<void>;
  /** True once the host was stopped. */
  isStopped(): boolean;
}

/**
 * One actor per step of the chart, each running that step's effect.
 *
 * @example
 * ```ts
 * const logic = chart.machine.provide({ actors: stepActors({ chart, key, deps, context, record, isStopped }) });
 * ```
 */
export function stepActors<C extends AnyChart>(host: StepHost<C>): Record<string, StepActor> {
  // every step has an effect (defineChart checks it); a test may replace some
  const effects = { ...host.chart.effects, ...host.effects } as Record<string, StepEffect<C>>;
  return Object.fromEntries(
    host.chart.steps.map((step: string) => {
      const effect = effects[step];
      if (!effect) throw new ChartDefinitionError(host.key.kind, `step ${step} has no effect`);
      const run = fromPromise<void, StepInput>(async ({ input, signal }) => {
        // invoked children start after the parent's snapshot is updated: this is the context of this step
        const ctx = host.context();
        await Promise.all([
          watchDeadline(host, input, signal),
          runEffect(host, step, effect, { ...input, ctx }, signal),
        ]);
      });
      return [step, run];
    }),
  );
}

/** Records DeadlineExceeded if the phase deadline passes while this step runs (the chart then stops the step). */
async function watchDeadline<C extends AnyChart>(
  host: StepHost<C>,
  input: StepInput,
  signal: AbortSignal,
): Promise<void> {
  if (!input.deadline) return;
  try {
    await host.deps.clock.sleepUntil(input.deadline.at, signal);
    if (!signal.aborted) {
      await host.record({ type: 'DeadlineExceeded', data: { phase: input.deadline.phase } } as FactOf<EventOf<C>>);
    }
  } catch {
    // the step ended first, or the host stopped
  }
}

async function runEffect<C extends AnyChart>(
  host: StepHost<C>,
  step: string,
  effect: StepEffect<C>,
  input: EffectInput<unknown, string>,
  signal: AbortSignal,
): Promise<void> {
  const { deps, key } = host;
  const log = deps.logger.child({ kind: key.kind, id: key.id, step, attempt: input.attempt });
  const emit = async (fact: FactOf<EventOf<C>>) => {
    if (!signal.aborted) await host.record(fact);
  };
  try {
    if (input.notBefore !== undefined) await deps.clock.sleepUntil(input.notBefore, signal);
    log.debug('effect started');
    const fact = await effect(input, { deps, emit, signal });
    if (!signal.aborted) await host.record(fact);
  } catch (err) {
    if (signal.aborted || host.isStopped()) return;
    const e = toMs2mError(err);
    log.warn({ code: e.code, transient: e.transient, err: e.message }, 'effect failed');
    await host
      .record({
        type: 'StepFailed',
        data: { step, code: e.code, message: e.message, transient: e.transient, attempt: input.attempt },
      } as FactOf<EventOf<C>>)
      .catch(() => undefined); // only a stopped or failed host rejects here, and it already said why
  }
}
