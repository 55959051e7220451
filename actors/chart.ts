/**
 * A chart, as the runtime runs it: `{kind, version, machine, steps, effects, schemas}` plus the few things the
 * fold needs (machines/chart.ts `ChartCore`: how a log starts, the phase of a snapshot, the terminal phases) and
 * the upcasters of older event versions. `createHost(chart)` (host.ts) runs any chart, `rebuildAll` (rebuild.ts)
 * folds any chart, `parseEvent` (event-schema.ts) validates any chart's events. The pure part stays in
 * machines/; this file adds the parts that do I/O (effects) or use libraries (zod schemas).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { MachineContext } from 'xstate';
import type { z } from 'zod';
import type { Clock } from '../adapters/clock/port.ts';
import { ErrorCode, Ms2mError } from '../adapters/errors.ts';
import {
  type AnyChartCore,
  type ChartCore,
  type ChartEvent,
  type FactOf,
  RUNTIME_EVENTS,
  type StepInput,
} from '../machines/chart.ts';
import { type EventEnvelope, isKind, KIND_PATTERN } from '../machines/envelope.ts';

/** What a host needs from its dependencies whatever the chart (effects may need more: the chart's `TDeps`). */
export interface RuntimeDeps {
  clock: Clock;
  logger: Logger;
}

/** What an effect gets besides its input: its chart's dependencies, a way to record intermediate facts, its cancellation. */
export interface EffectEnv<TEvent extends ChartEvent, TDeps> {
  deps: TDeps;
  /** Records a fact now (progress samples); the final fact is the effect's return value. */
  emit: (fact: FactOf<TEvent>) => Promise<void>;
  signal: AbortSignal;
}

/** A step's input plus the instance's context at the moment the step started. */
export type EffectInput<TContext, TStep extends string> = StepInput<TStep> & { ctx: TContext };

/** An effect: does its (idempotent) work and returns the fact that says it is done. */
export type Effect<TContext, TEvent extends ChartEvent, TStep extends string, TDeps> = (
  input: EffectInput<TContext, TStep>,
  env: EffectEnv<TEvent, TDeps>,
) => Promise<FactOf<TEvent>>;

/** The schema of each event type's data (zod), checked against the chart's event types. */
export type EventSchemas<TEvent extends ChartEvent> = {
  readonly [K in TEvent['type']]: z.ZodType<Extract<TEvent, { type: K }>['data']>;
};

/** Turns an envelope written by chart version `v` into one of version `v + 1` (registered under `v`). */
export type Upcaster = (env: EventEnvelope) => EventEnvelope;

/**
 * A runnable chart.
 *
 * @example
 * ```ts
 * export const migrationChart = defineChart({
 *   ...migrationCore, // kind, version, machine, steps, initialEvent, input, phaseOf, terminalPhases
 *   effects, // step -> Effect
 *   schemas: migrationEventSchemas, // event type -> zod schema of its data
 *   upcasters: {}, // machineVersion -> upcaster to the next version
 *   module: { url: import.meta.url, name: 'migrationChart' },
 * });
 * const host = await createHost(migrationChart).open({ id: 'default/m1/uid', deps });
 * ```
 */
export interface Chart<
  TContext extends MachineContext,
  TEvent extends ChartEvent,
  TStep extends string,
  TInput,
  TDeps extends RuntimeDeps,
> extends ChartCore<TContext, TEvent, TStep, TInput> {
  /** The effect of each step, provided to the machine by the host. */
  readonly effects: { readonly [S in TStep]: Effect<TContext, TEvent, TStep, TDeps> };
  /** Validation of every event read from a log (and of every fact before it is appended). */
  readonly schemas: EventSchemas<TEvent>;
  /** `machineVersion` -> upcaster to the next version; every version below `version` that changed has one. */
  readonly upcasters: Readonly<Record<number, Upcaster>>;
  /** Where rebuild worker threads import this chart from (a module URL and its export); without it, inline. */
  readonly module?: { url: string; name: string };
}

// biome-ignore lint/suspicious/noExplicitAny: any chart, whatever its context, events, steps, input and deps
export type AnyChart = Chart<any, any, any, any, any>;
// biome-ignore lint/suspicious/noExplicitAny: inference helper over any chart
export type DepsOf<C> = C extends Chart<any, any, any, any, infer D> ? D : never;
/** A chart's effects, step -> effect. */
export type EffectsOf<C extends AnyChart> = C['effects'];

/** A chart definition that breaks the runtime protocol (machines/chart.ts) or the kind grammar: a bug. */
export class ChartDefinitionError extends Ms2mError {
  constructor(kind: unknown, problem: string) {
    super(ErrorCode.INTERNAL, `Chart ${String(kind)}: ${problem}; fix its definition`, {
      details: { kind: String(kind) },
    });
  }
}

/**
 * Checks a chart against the runtime protocol and returns it: a kind name, a positive integer version, an
 * effect and a machine actor for every step, schemas for the initial event and the runtime's own events
 * (StepFailed, DeadlineExceeded, CancelRequested), upcasters only for older versions. A chart that fails any of
 * these would poison its logs at the first such event, so it fails here, at import.
 *
 * @example
 * ```ts
 * export const toyChart = defineChart({ ...toyCore, effects, schemas, upcasters: {} });
 * ```
 */
export function defineChart<
  TContext extends MachineContext,
  TEvent extends ChartEvent,
  TStep extends string,
  TInput,
  TDeps extends RuntimeDeps,
  TInitial extends TEvent['type'],
>(
  chart: Chart<TContext, TEvent, TStep, TInput, TDeps> & { readonly initialEvent: TInitial },
): Chart<TContext, TEvent, TStep, TInput, TDeps> & { readonly initialEvent: TInitial } {
  const { kind } = chart;
  const fail = (problem: string) => new ChartDefinitionError(kind, problem);
  if (!isKind(kind)) throw fail(`the kind must match ${KIND_PATTERN.source}`);
  if (!Number.isInteger(chart.version) || chart.version < 1) throw fail('the version must be a positive integer');
  if (new Set(chart.steps).size !== chart.steps.length) throw fail('a step is listed twice');
  const actors = (chart.machine.implementations.actors ?? {}) as Record<string, unknown>;
  for (const step of chart.steps) {
    if (typeof chart.effects[step] !== 'function') throw fail(`step ${step} has no effect`);
    if (!(step in actors)) throw fail(`step ${step} is not an actor of the machine (invoke src)`);
  }
  for (const type of [chart.initialEvent, ...RUNTIME_EVENTS]) {
    if (!Object.hasOwn(chart.schemas, type)) throw fail(`event ${type} has no schema`);
  }
  for (const v of Object.keys(chart.upcasters)) {
    if (!(Number(v) >= 1 && Number(v) < chart.version)) throw fail(`upcaster ${v} is not for an older version`);
  }
  return chart;
}

const fingerprints = new WeakMap<object, string>();

/**
 * Identifies the chart that folded a snapshot: a hash of its kind, version and machine definition (snapshot
 * caches trust an entry only when it matches).
 *
 * @example
 * ```ts
 * chartFingerprint(migrationChart); // '3f1c…' (16 hex digits)
 * ```
 */
export function chartFingerprint(chart: AnyChartCore): string {
  let fp = fingerprints.get(chart);
  if (fp === undefined) {
    fp = createHash('sha256')
      .update(`${chart.kind}:${chart.version}:${JSON.stringify(chart.machine.definition)}`)
      .digest('hex')
      .slice(0, 16);
    fingerprints.set(chart, fp);
  }
  return fp;
}
