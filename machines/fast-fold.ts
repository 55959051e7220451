/**
 * The fold the rebuild and the analysis tools use: the compiled fold (compiled-fold.ts) when the chart compiles,
 * xstate's fold (fold.ts, the reference) otherwise. Whenever the compiled fold throws (a chart function that
 * reaches for `self` or `spawn`, an xstate event, a guard that throws), the events seen so far are folded again
 * through the reference, which then carries on: the result is always the reference's, only faster.
 */
import type { MachineContext, StateValue } from 'xstate';
import type { ChartCore, ChartEvent, ChartSnapshot } from './chart.ts';
import { CompiledFold, type PersistedMachineSnapshot } from './compiled-fold.ts';
import { Fold } from './fold.ts';

/**
 * Incremental fold of one instance, like {@link Fold}, but `apply` returns nothing: read `status`, `value`,
 * `context` (cheap), `persisted()` or `snapshot` (an xstate snapshot, built on demand) when needed.
 *
 * @example
 * ```ts
 * const f = new FastFold(migrationCore, 'default/m1', events[0]);
 * for (const ev of events.slice(1)) f.apply(ev);
 * f.value; // 'Completed'
 * cache.put({ ..., persisted: f.persisted() });
 * ```
 */
export class FastFold<TContext extends MachineContext, TEvent extends ChartEvent, TInput> {
  readonly id: string;
  private compiled: CompiledFold<TContext, TEvent, TInput> | null = null;
  private reference: Fold<TContext, TEvent, TInput> | null = null;
  /** The events the compiled fold took, to hand them to the reference if it must take over. */
  private readonly seen: TEvent[];

  constructor(
    private readonly chart: ChartCore<TContext, TEvent, string, TInput>,
    id: string,
    first: TEvent,
  ) {
    this.id = id;
    this.seen = [first];
    try {
      this.compiled = new CompiledFold(chart, id, first);
    } catch {
      this.reference = new Fold(chart, id, first);
    }
  }

  /** True while the compiled fold runs (false: the chart does not compile, or the reference took over). */
  get isCompiled(): boolean {
    return this.compiled !== null;
  }

  apply(event: TEvent): void {
    if (this.compiled) {
      this.seen.push(event);
      try {
        this.compiled.apply(event);
        return;
      } catch {
        this.compiled = null;
        const [first, ...rest] = this.seen.splice(0);
        const reference = new Fold(this.chart, this.id, first!);
        this.reference = reference;
        for (const ev of rest) reference.apply(ev); // throws here if xstate's fold throws on this event too
        return;
      }
    }
    this.reference!.apply(event);
  }

  get status(): ChartSnapshot<TContext, TEvent>['status'] {
    return this.compiled ? this.compiled.status : this.reference!.snapshot.status;
  }

  get value(): StateValue {
    return this.compiled ? this.compiled.value : this.reference!.snapshot.value;
  }

  get context(): TContext {
    return this.compiled ? this.compiled.context : this.reference!.snapshot.context;
  }

  /** `machine.getPersistedSnapshot(snapshot)`: what a rebuild hands to a host and a snapshot cache stores. */
  persisted(): PersistedMachineSnapshot<TContext> {
    if (this.compiled) return this.compiled.persisted();
    return this.chart.machine.getPersistedSnapshot(this.reference!.snapshot) as PersistedMachineSnapshot<TContext>;
  }

  /** An xstate snapshot of the current state. */
  get snapshot(): ChartSnapshot<TContext, TEvent> {
    return this.compiled ? this.compiled.snapshot : this.reference!.snapshot;
  }
}

/**
 * Folds a whole (validated) log; null for an empty log. Same result as fold.ts `fold`.
 *
 * @example
 * ```ts
 * const f = fastFold(migrationCore, id, parseLog(migrationChart, envelopes, id))!;
 * ```
 */
export function fastFold<TContext extends MachineContext, TEvent extends ChartEvent, TInput>(
  chart: ChartCore<TContext, TEvent, string, TInput>,
  id: string,
  events: readonly TEvent[],
): FastFold<TContext, TEvent, TInput> | null {
  const [first, ...rest] = events;
  if (!first) return null;
  const f = new FastFold(chart, id, first);
  for (const ev of rest) f.apply(ev);
  return f;
}
