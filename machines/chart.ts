/**
 * The pure half of a chart: what folding a log and reading a snapshot need, for any statechart the runtime runs
 * (the StatefulMigration chart is the first; VolumeResize is next). actors/chart.ts adds what needs I/O or
 * libraries: the effects of the steps and the schemas that validate events read from a log.
 *
 * The runtime protocol every chart follows (actors/host.ts relies on it):
 * - the log of an instance starts with the chart's `initialEvent`, whose data seeds the machine's `input`;
 * - the machine transitions only on facts from its own catalogue, `{type, at: epoch ms, data}`;
 * - a step is a state that invokes an effect by the step's name with a {@link StepInput};
 * - the runtime itself records three facts, so every catalogue holds them with these data shapes:
 *   {@link RuntimeEventData} `StepFailed` (an effect failed), `DeadlineExceeded` (the step's deadline passed)
 *   and `CancelRequested` (someone asked to cancel; the chart decides what that means);
 * - a final state (xstate `type: 'final'`, snapshot status `done`) is terminal and absorbs every event.
 */
import type { MachineContext, MachineSnapshot, StateMachine } from 'xstate';

/** A fact as a machine sees it: the envelope's type and data, and its time in epoch ms (from the envelope). */
export interface ChartEvent {
  type: string;
  at: number;
  data: unknown;
}

/** What an effect produces: the fact without its time (the host stamps `at` from the clock). */
export type FactOf<E extends ChartEvent> = E extends ChartEvent ? { type: E['type']; data: E['data'] } : never;

/** The data of the facts the runtime records by itself, for any chart (see the file comment). */
export interface RuntimeEventData<TStep extends string = string, TPhase extends string = string> {
  StepFailed: { step: TStep; code: string; message: string; transient: boolean; attempt: number };
  DeadlineExceeded: { phase: TPhase };
  CancelRequested: { reason: string };
}

/** The types of {@link RuntimeEventData}: a chart's catalogue must define each. */
export const RUNTIME_EVENTS = ['StepFailed', 'DeadlineExceeded', 'CancelRequested'] as const;

/**
 * What every step's invocation carries (and a persisted snapshot stores). `key` is stable across retries and
 * crashes: effects must be idempotent on it ({@link effectKey}). The runner adds the instance's current context.
 */
export interface StepInput<TStep extends string = string, TPhase extends string = string> {
  step: TStep;
  key: string;
  attempt: number;
  /** A retry runs no earlier than this (epoch ms): the backoff, kept in context so it survives a restart. */
  notBefore?: number;
  /** The current phase's deadline: the runner records DeadlineExceeded for `phase` at `at` (epoch ms). */
  deadline?: { phase: TPhase; at: number };
}

/** Idempotency key of one effect of one instance: `<id>:<step>`. */
export const effectKey = (id: string, step: string): string => `${id}:${step}`;

/**
 * The xstate type parameters the runtime never reads (children, actions, guards, delays, state values, tags,
 * output, emitted events, meta, schema): a chart fixes them, the runtime takes any.
 */
// biome-ignore lint/suspicious/noExplicitAny: the one place the runtime is generic over xstate's own parameters
type Unread = any;

/** A chart's machine. Only its context, events and input matter to the runtime. */
export type ChartMachine<TContext extends MachineContext, TEvent extends ChartEvent, TInput> = StateMachine<
  TContext,
  TEvent,
  Unread,
  Unread,
  Unread,
  Unread,
  Unread,
  Unread,
  Unread,
  TInput,
  Unread,
  Unread,
  Unread,
  Unread
>;

/** A snapshot of a chart's machine (its state value and children stay untyped for the runtime). */
export type ChartSnapshot<TContext extends MachineContext, TEvent extends ChartEvent> = MachineSnapshot<
  TContext,
  TEvent,
  Unread,
  Unread,
  Unread,
  Unread,
  Unread,
  Unread
>;

/**
 * The pure part of a chart.
 *
 * @example
 * ```ts
 * export const migrationCore: ChartCore<MigrationContext, MachineEvent, Step, MigrationInput> = {
 *   kind: 'StatefulMigration', version: 1, machine: migrationMachine, steps: STEPS,
 *   initialEvent: 'MigrationRequested', input: (id, first) => ..., phaseOf: (s) => ..., terminalPhases: ['Completed', 'Failed'],
 * };
 * ```
 */
export interface ChartCore<TContext extends MachineContext, TEvent extends ChartEvent, TStep extends string, TInput> {
  /** Names the chart in every envelope, file name and subject of its streams (see envelope.ts `KIND_PATTERN`). */
  readonly kind: string;
  /** Version of the chart's event schema. Bump it (and add an upcaster) when an old log would fold differently. */
  readonly version: number;
  readonly machine: ChartMachine<TContext, TEvent, TInput>;
  /** The steps that run an effect, each invoked by its name. */
  readonly steps: readonly TStep[];
  /** The event every log of this chart starts with. */
  readonly initialEvent: TEvent['type'];
  /** The machine's input from the first event of a log (of type `initialEvent`). */
  input(id: string, first: TEvent): TInput;
  /** The phase a snapshot is in, as status, metrics and timelines show it. */
  phaseOf(snapshot: ChartSnapshot<TContext, TEvent>): string;
  /** The phases of a finished instance (its snapshot is `done`). */
  readonly terminalPhases: readonly string[];
}

/** Any chart, whatever its context, events, steps and input. */
export type AnyChartCore = ChartCore<Unread, Unread, Unread, Unread>;
export type ContextOf<C> = C extends ChartCore<infer X, Unread, Unread, Unread> ? X : never;
export type EventOf<C> = C extends ChartCore<Unread, infer E, Unread, Unread> ? E : never;
export type StepOf<C> = C extends ChartCore<Unread, Unread, infer S, Unread> ? S : never;
/** The snapshot type of a chart's machine. */
export type SnapshotOf<C> = ChartSnapshot<ContextOf<C>, EventOf<C>>;
