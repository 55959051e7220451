/**
 * The compiled fold: a chart's log folded on the tables of fold-compiler.ts instead of through xstate's
 * `transition()`. Per event it does what xstate's macrostep does for this kind of chart (select the transition:
 * the active leaf's, then its ancestors', first guard that holds; exit, transition actions, enter; then eventless
 * `always` transitions until none is enabled) and nothing else: no snapshot object per action, no child actor per
 * invocation (an invocation is its id, logic and input until someone asks for a snapshot), no state-value
 * recomputation. xstate's fold stays the reference (fold.ts); the differential tests hold this one to it at every
 * prefix of every golden and property-generated log, and fast-fold.ts goes back to it whenever this one throws.
 */
import { type ActorOptions, type AnyActorLogic, createActor, type MachineContext, type StateValue } from 'xstate';
import type { ChartCore, ChartEvent, ChartSnapshot } from './chart.ts';
import { compileChart, OffLimitsError } from './fold-compiler.ts';
import type { Action, CompiledChart, Invoke, Node, Plan, Transition } from './fold-tables.ts';
import { planOf } from './fold-tables.ts';

/** A running invocation: what xstate would create a child actor from. */
interface Child {
  readonly invoke: Invoke;
  readonly input: unknown;
}

/** xstate's persisted snapshot of a machine (`machine.getPersistedSnapshot`), key for key. */
export interface PersistedMachineSnapshot<TContext> {
  status: 'active' | 'done';
  output: undefined;
  error: undefined;
  value: StateValue;
  historyValue: Record<string, never>;
  context: TContext;
  children: Record<string, { snapshot: unknown; src: string; systemId: string | undefined; syncSnapshot: boolean }>;
}

/**
 * @example
 * ```ts
 * const f = new CompiledFold(migrationCore, 'default/m1', events[0]); // throws NotCompilableError for other charts
 * for (const ev of events.slice(1)) f.apply(ev);
 * f.value; // 'Completed'
 * ```
 */
export class CompiledFold<TContext extends MachineContext, TEvent extends ChartEvent, TInput> {
  readonly id: string;
  private readonly compiled: CompiledChart;
  private leaf: Node;
  private ctx: object;
  private kids: Record<string, Child> = {};
  private done = false;
  private materialized: ChartSnapshot<TContext, TEvent> | null = null;

  constructor(chart: ChartCore<TContext, TEvent, string, TInput>, id: string, first: TEvent) {
    if (first.type !== chart.initialEvent) {
      throw new Error(`Log of ${chart.kind} ${id} starts with ${first.type}, expected ${chart.initialEvent}`);
    }
    this.id = id;
    this.compiled = compileChart(chart.machine);
    const input = chart.input(id, first);
    // xstate's initial snapshot: the context, then the initial microstep and eventless transitions on xstate.init
    const init = { type: 'xstate.init', input };
    this.ctx = this.compiled.initialContext(input);
    this.leaf = this.compiled.root;
    this.microstep(null, this.compiled.initial, init);
    this.settle(init);
  }

  get status(): 'active' | 'done' {
    return this.done ? 'done' : 'active';
  }

  get context(): TContext {
    return this.ctx as TContext;
  }

  /** The state value, a new object each time (as xstate's snapshots have). */
  get value(): StateValue {
    let v: StateValue = this.leaf.key;
    for (let n = this.leaf.parent; n?.parent; n = n.parent) v = { [n.key]: v };
    return v;
  }

  /** Applies one event. A done fold absorbs every event unchanged. */
  apply(event: TEvent): void {
    if (this.done) return;
    // xstate gives its own events (init, stop, errors and done of children) meanings of their own
    if (event.type.startsWith('xstate.')) throw new OffLimitsError(`meaning for the xstate event ${event.type}`);
    this.materialized = null;
    const t = this.select(event);
    if (t) this.take(t, event);
    this.settle(event);
  }

  /** What `machine.getPersistedSnapshot(snapshot)` gives for the same snapshot (the rebuild's and caches' form). */
  persisted(): PersistedMachineSnapshot<TContext> {
    const children: PersistedMachineSnapshot<TContext>['children'] = {};
    for (const id in this.kids) {
      const { invoke, input } = this.kids[id]!;
      const ref = this.child(id, invoke, input);
      children[id] = {
        snapshot: ref.getPersistedSnapshot(),
        src: invoke.src,
        systemId: ref.systemId,
        syncSnapshot: invoke.syncSnapshot,
      };
    }
    return {
      status: this.status,
      output: undefined,
      error: undefined,
      value: this.value,
      historyValue: {},
      context: persistContext(this.ctx) as TContext,
      children,
    };
  }

  /**
   * An xstate snapshot of the current state (for code that reads snapshots: status projection, timelines). Its
   * children are unstarted actors without a parent, as xstate's inert fold has them.
   */
  get snapshot(): ChartSnapshot<TContext, TEvent> {
    if (!this.materialized) {
      const base = this.compiled.machine.resolveState({ value: this.value, context: this.ctx as MachineContext });
      const children: Record<string, unknown> = {};
      for (const id in this.kids) children[id] = this.child(id, this.kids[id]!.invoke, this.kids[id]!.input);
      this.materialized = { ...base, children } as unknown as ChartSnapshot<TContext, TEvent>;
    }
    return this.materialized;
  }

  private child(id: string, invoke: Invoke, input: unknown) {
    const { src, syncSnapshot, systemId } = invoke;
    // xstate's own spawn passes syncSnapshot too (an internal option: it only says whether the parent listens)
    const options = { id, src, input, syncSnapshot, systemId } as ActorOptions<AnyActorLogic>;
    return createActor(invoke.logic as AnyActorLogic, options);
  }

  /** The enabled transition for `event`: the leaf's first whose guard holds, else its parent's, up to the root. */
  private select(event: TEvent): Transition | null {
    for (const n of this.leaf.chain) {
      const ts = n.on.get(event.type);
      if (ts) for (const t of ts) if (!t.guard || t.guard(this.ctx, event)) return t;
    }
    return null;
  }

  /** Eventless transitions after a step, until none is enabled or a step changes nothing (xstate's macrostep). */
  private settle(event: object): void {
    let select = true;
    let iterations = 0;
    while (!this.done) {
      if (++iterations > this.compiled.maxIterations) throw new Error('Infinite loop of eventless transitions');
      const t = select ? this.eventless(event) : null;
      if (!t) return;
      select = this.take(t, event);
    }
  }

  private eventless(event: object): Transition | null {
    for (const n of this.leaf.chain) {
      if (n.always) for (const t of n.always) if (!t.guard || t.guard(this.ctx, event)) return t;
    }
    return null;
  }

  private take(t: Transition, event: object): boolean {
    let plan = t.plans.get(this.leaf);
    if (!plan) {
      plan = planOf(t, this.leaf);
      t.plans.set(this.leaf, plan);
    }
    return this.microstep(t, plan, event);
  }

  /** One microstep; true when xstate's would give a new snapshot object (what ends its eventless loop). */
  private microstep(t: Transition | null, plan: Plan, event: object): boolean {
    let changed = plan.leaf !== this.leaf;
    for (const n of plan.exit) {
      changed = this.run(n.exit, event) || changed;
      for (const inv of n.invokes) {
        changed = true;
        if (this.kids[inv.id] !== undefined) {
          this.kids = { ...this.kids };
          delete this.kids[inv.id];
        }
      }
    }
    if (t) changed = this.run(t.actions, event) || changed;
    for (let i = 0; i < plan.enter.length; i++) {
      const n = plan.enter[i]!;
      changed = this.run(n.entry, event) || changed;
      for (const inv of n.invokes) {
        changed = true;
        this.kids = { ...this.kids, [inv.id]: { invoke: inv, input: inv.input(this.ctx, event) } };
      }
      if (plan.defaultEntry[i]) changed = this.run(n.initialActions, event) || changed;
      if (n.type === 'final') changed = this.done = true;
    }
    this.leaf = plan.leaf;
    if (this.done) for (const n of plan.config) this.run(n.exit, event);
    return changed;
  }

  private run(actions: readonly Action[], event: object): boolean {
    let assigned = false;
    for (const a of actions) {
      const next = a.run(this.ctx, event);
      if (a.assigns) {
        this.ctx = next;
        assigned = true;
      }
    }
    return assigned;
  }
}

/** xstate's `persistContext`: actor references in context become `{xstate$$type: 1, id}`; the rest is shared. */
function persistContext(part: object): object {
  let copy: Record<string, unknown> | unknown[] | undefined;
  for (const key in part) {
    const value = (part as Record<string, unknown>)[key];
    if (!value || typeof value !== 'object') continue;
    const replaced =
      'sessionId' in value && 'send' in value && 'ref' in value
        ? { xstate$$type: 1, id: (value as unknown as { id: unknown }).id }
        : persistContext(value);
    if (replaced !== value) {
      copy ??= Array.isArray(part) ? part.slice() : { ...part };
      (copy as Record<string, unknown>)[key] = replaced;
    }
  }
  return copy ?? part;
}
