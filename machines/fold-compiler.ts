/**
 * Compiles a chart's machine into the tables the compiled fold (compiled-fold.ts) runs on, read from xstate's own
 * state nodes (never hand-written): each state's transitions per event type with their guards, its entry and exit
 * actions, its invocations and its initial state; and, computed once per (transition, active leaf), the states a
 * microstep exits and enters (fold-tables.ts, in the order of xstate's SCXML algorithm).
 *
 * It accepts the subset of statecharts the runtime's charts use and refuses the rest (the fold then stays with
 * xstate's `transition()`): compound, atomic and final states (finals only at the top level), one target per
 * transition, exact event types, guards that are functions of context and event (inline or named, no `and`/`or`/
 * `not`/`stateIn`), actions that are `assign` or custom (custom actions change no snapshot; in the inert fold they
 * never run), invocations of named actor logic, no `after` delays, no parallel or history states, no machine output.
 */
import { type AnyStateMachine, assign } from 'xstate';
import {
  type Action,
  type CompiledChart,
  type Guard,
  type Invoke,
  type Node,
  NotCompilableError,
  planOf,
  type Transition,
  type XInvoke,
  type XNode,
  type XTransition,
} from './fold-tables.ts';

type Args = { context: unknown; event: unknown };
type Fn = (args: Record<string, unknown>, params?: unknown) => unknown;

const ASSIGN_RESOLVE = (assign({}) as unknown as { resolve: unknown }).resolve;
const compiled = new WeakMap<AnyStateMachine, CompiledChart | NotCompilableError>();

/** Compiles `machine` once (cached); throws {@link NotCompilableError} when it uses what the fast fold lacks. */
export function compileChart(machine: AnyStateMachine): CompiledChart {
  let c = compiled.get(machine);
  if (c === undefined) {
    try {
      c = new Compiler(machine).chart();
    } catch (err) {
      if (!(err instanceof NotCompilableError)) throw err;
      c = err;
    }
    compiled.set(machine, c);
  }
  if (c instanceof NotCompilableError) throw c;
  return c;
}

class Compiler {
  private readonly nodes = new Map<XNode, Node>();
  private readonly impl: {
    actions: Record<string, unknown>;
    guards: Record<string, unknown>;
    actors: Record<string, unknown>;
  };

  constructor(private readonly machine: AnyStateMachine) {
    const i = machine.implementations as unknown as Partial<Compiler['impl']>;
    this.impl = { actions: i.actions ?? {}, guards: i.guards ?? {}, actors: i.actors ?? {} };
  }

  private refuse(reason: string): never {
    throw new NotCompilableError(this.machine.id, reason);
  }

  chart(): CompiledChart {
    const xroot = this.machine.root as unknown as XNode;
    if (xroot.output !== undefined) this.refuse('the machine has an output');
    const root = this.node(xroot, undefined);
    this.link(root);
    const chain: Node[] = [];
    for (let n: Node | null = root; n; n = n.initial) chain.push(n);
    const initial = planOf({ source: root, target: null, reenter: true }, root, chain);
    const ctx = (this.machine.config as { context?: unknown }).context;
    const options = (this.machine as unknown as { options?: { maxIterations?: number } }).options;
    return {
      machine: this.machine,
      root,
      initial,
      maxIterations: options?.maxIterations ?? Number.POSITIVE_INFINITY,
      byId: new Map([...this.nodes.values()].map((n) => [n.x.id, n])),
      // xstate: a context function runs as an assign on `{}` (a shallow copy); a literal context is used as it is
      initialContext: (input) =>
        typeof ctx === 'function'
          ? Object.assign({}, ctx({ spawn: noSpawn, input, self: OFF_LIMITS }))
          : ((ctx as object | undefined) ?? {}),
    };
  }

  private node(x: XNode, parent: Node | undefined): Node {
    if (x.type !== 'atomic' && x.type !== 'compound' && x.type !== 'final') this.refuse(`${x.type} state ${x.id}`);
    if (x.type === 'final' && parent?.parent !== undefined) this.refuse(`final state ${x.id} is not top-level`);
    if (x.config.after !== undefined) this.refuse(`state ${x.id} has after-delays`);
    const node: Node = {
      x,
      key: x.key,
      order: x.order,
      type: x.type,
      parent,
      chain: [],
      entry: x.entry.map((a) => this.action(a, x)),
      exit: x.exit.map((a) => this.action(a, x)),
      invokes: x.invoke.map((inv) => this.invoke(inv, x)),
      initial: null,
      initialActions: x.type === 'compound' ? x.initial.actions.map((a) => this.action(a, x)) : [],
      on: new Map(),
      always: null,
    };
    node.chain.push(node, ...(parent?.chain ?? []));
    this.nodes.set(x, node);
    for (const child of Object.values(x.states)) this.node(child, node);
    return node;
  }

  /** Second pass: transitions and initial states (they point at nodes anywhere in the tree). */
  private link(node: Node): void {
    const m = node as { -readonly [K in keyof Node]: Node[K] };
    if (node.type === 'compound') m.initial = this.nodeOf(node.x.initial.target[0], node.x);
    const on = new Map<string, Transition[]>();
    for (const [type, ts] of node.x.transitions) {
      if (type === '*' || type.endsWith('.*')) this.refuse(`wildcard event ${type} in ${node.x.id}`);
      on.set(
        type,
        ts.map((t) => this.transition(t)),
      );
    }
    m.on = on;
    m.always = node.x.always ? node.x.always.map((t) => this.transition(t)) : null;
    for (const child of Object.values(node.x.states)) this.link(this.nodes.get(child)!);
  }

  private nodeOf(x: XNode | undefined, where: XNode): Node {
    const n = x && this.nodes.get(x);
    if (!n) this.refuse(`a target of ${where.id} is not one of its machine's states`);
    return n;
  }

  private transition(t: XTransition): Transition {
    const targets = t.target ?? [];
    if (targets.length > 1) this.refuse(`a transition of ${t.source.id} has several targets`);
    return {
      source: this.nodeOf(t.source, t.source),
      target: targets[0] ? this.nodeOf(targets[0], t.source) : null,
      reenter: t.reenter,
      guard: t.guard === undefined ? null : this.guard(t.guard, t.source),
      actions: t.actions.map((a) => this.action(a, t.source)),
      plans: new Map(),
    };
  }

  /** xstate's `evaluateGuard`, resolved ahead: inline function, or a named one with its params. */
  private guard(g: unknown, where: XNode): Guard {
    const inline = typeof g === 'function';
    const name = typeof g === 'string' ? g : (g as { type?: string }).type;
    const fn = inline ? g : name !== undefined ? this.impl.guards[name] : undefined;
    if (typeof fn !== 'function' || 'check' in fn) this.refuse(`guard ${String(name)} of ${where.id}`);
    const call = fn as Fn;
    const params = inline || typeof g === 'string' ? undefined : (g as { params?: unknown }).params;
    const hasParams = !inline && typeof g === 'object' && g !== null && 'params' in g;
    if (!hasParams) return (context, event) => Boolean(call({ context, event } as Args, undefined));
    if (typeof params === 'function') {
      return (context, event) => Boolean(call({ context, event } as Args, (params as Fn)({ context, event })));
    }
    return (context, event) => Boolean(call({ context, event } as Args, params));
  }

  /** xstate's `resolveAndExecuteActionsWithContext` for one action, resolved ahead. */
  private action(a: unknown, where: XNode): Action {
    const inline = typeof a === 'function';
    const name = typeof a === 'string' ? a : inline ? undefined : (a as { type?: string }).type;
    const resolved = inline ? a : name !== undefined ? this.impl.actions[name] : undefined;
    const params = inline || typeof a === 'string' ? undefined : (a as { params?: unknown }).params;
    const paramsOf =
      typeof params === 'function'
        ? (context: object, event: object) => (params as Fn)({ context, event })
        : () => params;
    const isBuiltin = (typeof resolved === 'function' || typeof resolved === 'object') && 'resolve' in resolved!;
    if (!resolved || !isBuiltin) {
      // a custom action: executed by the actor, never by a fold (its params are still evaluated, as xstate does)
      return {
        assigns: false,
        run: (context, event) => {
          paramsOf(context, event);
          return context;
        },
      };
    }
    const builtin = resolved as { type?: string; resolve: unknown; assignment?: unknown };
    if (builtin.resolve !== ASSIGN_RESOLVE) this.refuse(`action ${String(builtin.type)} of ${where.id}`);
    const assignment = builtin.assignment;
    const argsOf = (context: object, event: object) => ({
      context,
      event,
      spawn: noSpawn,
      self: OFF_LIMITS,
      system: OFF_LIMITS,
    });
    if (typeof assignment === 'function') {
      return {
        assigns: true,
        run: (context, event) =>
          Object.assign({}, context, (assignment as Fn)(argsOf(context, event), paramsOf(context, event))),
      };
    }
    const entries = Object.entries((assignment ?? {}) as Record<string, unknown>);
    return {
      assigns: true,
      run: (context, event) => {
        const args = argsOf(context, event);
        const p = paramsOf(context, event);
        const partial: Record<string, unknown> = {};
        for (const [k, v] of entries) partial[k] = typeof v === 'function' ? (v as Fn)(args, p) : v;
        return Object.assign({}, context, partial);
      },
    };
  }

  private invoke(inv: XInvoke, where: XNode): Invoke {
    const src = inv.src;
    if (typeof src !== 'string' || src.startsWith('xstate.invoke.') || !this.impl.actors[src]) {
      this.refuse(`invoke ${inv.id} of ${where.id} has no named actor logic`);
    }
    const input = inv.input;
    return {
      id: inv.id,
      src,
      logic: this.impl.actors[src],
      systemId: inv.systemId,
      syncSnapshot: Boolean(inv.onSnapshot),
      input:
        typeof input === 'function'
          ? (context, event) => (input as Fn)({ context, event, self: OFF_LIMITS })
          : () => input,
    };
  }
}

/** Thrown when chart code reaches for what a fold without actors lacks; the fold then goes back to xstate's. */
export class OffLimitsError extends Error {
  constructor(what: string) {
    super(`the fast fold has no ${what}: chart code that uses it is folded by xstate's transition()`);
    this.name = 'OffLimitsError';
  }
}

function noSpawn(): never {
  throw new OffLimitsError('spawn');
}

/**
 * Stands in for `self` and `system`: the compiled fold has no actor, so any use of them throws (and the fold falls
 * back to xstate's). Chart functions that never touch them see exactly what xstate's fold gives them.
 */
const OFF_LIMITS: object = new Proxy(Object.create(null), {
  get: () => noSelf(),
  has: () => noSelf(),
  set: () => noSelf(),
  ownKeys: () => noSelf(),
  getOwnPropertyDescriptor: () => noSelf(),
  defineProperty: () => noSelf(),
  deleteProperty: () => noSelf(),
  getPrototypeOf: () => noSelf(),
});

function noSelf(): never {
  throw new OffLimitsError('actor self or system');
}
