/**
 * The pure fold: a stream's log -> its snapshot, through the chart's own transition function (runs no effects).
 * Used by the host to rebuild after a crash and by the golden tests; works for any chart. It is the reference:
 * the rebuild of many streams and the analysis tools use the compiled fold (fast-fold.ts), ~10x faster, which
 * the differential tests hold equal to this one at every prefix of every golden and property-generated log.
 *
 * xstate's exported `transition()` builds a fresh inert actor (and computes the machine's whole initial state)
 * on every call, ~150 µs each; a fold instead builds one inert scope per instance and reuses it for every
 * event (~30-45 µs per event: xstate's macrostep, a snapshot object per action, a child actor per invoked step).
 * The results are identical (property-tested).
 */
import { type ActorScope, createActor, type MachineContext, transition } from 'xstate';
import type { ChartCore, ChartEvent, ChartSnapshot } from './chart.ts';

/**
 * An inert scope: actions are resolved into the snapshot but never executed; children are never started.
 * Creating its (never started) actor already computes the initial snapshot, which the fold starts from.
 */
function inertScope<TContext extends MachineContext, TEvent extends ChartEvent, TInput>(
  chart: ChartCore<TContext, TEvent, string, TInput>,
  input: TInput,
): { scope: ActorScope<ChartSnapshot<TContext, TEvent>, TEvent>; initial: ChartSnapshot<TContext, TEvent> } {
  const self = createActor(chart.machine, { input });
  const scope = {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    logger: () => undefined,
    defer: () => undefined,
    emit: () => undefined,
    stopChild: () => undefined,
    actionExecutor: () => undefined,
  } as unknown as ActorScope<ChartSnapshot<TContext, TEvent>, TEvent>;
  return { scope, initial: self.getSnapshot() };
}

/**
 * Incremental fold of one instance: `apply` each event in seq order.
 *
 * @example
 * ```ts
 * const f = new Fold(migrationCore, 'default/m1', events[0]);
 * for (const ev of events.slice(1)) f.apply(ev);
 * f.snapshot.value; // 'Completed'
 * ```
 */
export class Fold<TContext extends MachineContext, TEvent extends ChartEvent, TInput> {
  readonly id: string;
  private readonly scope: ActorScope<ChartSnapshot<TContext, TEvent>, TEvent>;
  snapshot: ChartSnapshot<TContext, TEvent>;

  constructor(
    private readonly chart: ChartCore<TContext, TEvent, string, TInput>,
    id: string,
    first: TEvent,
  ) {
    if (first.type !== chart.initialEvent) {
      throw new Error(`Log of ${chart.kind} ${id} starts with ${first.type}, expected ${chart.initialEvent}`);
    }
    this.id = id;
    const { scope, initial } = inertScope(chart, chart.input(id, first));
    this.scope = scope;
    this.snapshot = initial;
  }

  /** Applies one event. A snapshot that is done absorbs every event unchanged. */
  apply(event: TEvent): ChartSnapshot<TContext, TEvent> {
    if (this.snapshot.status === 'active')
      this.snapshot = this.chart.machine.transition(this.snapshot, event, this.scope);
    return this.snapshot;
  }
}

/** One event on a snapshot, without a Fold (slower: xstate builds a scope per call). Done absorbs everything. */
export function step<TContext extends MachineContext, TEvent extends ChartEvent, TInput>(
  chart: ChartCore<TContext, TEvent, string, TInput>,
  snapshot: ChartSnapshot<TContext, TEvent>,
  event: TEvent,
): ChartSnapshot<TContext, TEvent> {
  if (snapshot.status !== 'active') return snapshot;
  return transition(chart.machine, snapshot, event)[0];
}

/**
 * Folds a whole (validated) log. Returns null for an empty log.
 *
 * @example
 * ```ts
 * const final = fold(migrationCore, id, parseLog(migrationChart, envelopes, id));
 * ```
 */
export function fold<TContext extends MachineContext, TEvent extends ChartEvent, TInput>(
  chart: ChartCore<TContext, TEvent, string, TInput>,
  id: string,
  events: readonly TEvent[],
): ChartSnapshot<TContext, TEvent> | null {
  const [first, ...rest] = events;
  if (!first) return null;
  const f = new Fold(chart, id, first);
  for (const ev of rest) f.apply(ev);
  return f.snapshot;
}
