/**
 * The tables the compiled fold (compiled-fold.ts) runs on, as fold-compiler.ts builds them from a chart's machine,
 * and the microstep plans: for a transition taken from an active leaf, the states it exits and enters, in the order
 * of xstate's SCXML algorithm (`getTransitionDomain`, `computeExitSet`, `computeEntrySet` in xstate's core),
 * restricted to one active configuration (no parallel or history states: the compiler refuses them).
 */
import type { AnyStateMachine } from 'xstate';

/** Why a machine cannot be compiled: the fold uses xstate's transition function instead. */
export class NotCompilableError extends Error {
  constructor(machineId: string, reason: string) {
    super(`Chart machine ${machineId} is not compilable for the fast fold: ${reason}`);
    this.name = 'NotCompilableError';
  }
}

// xstate's state node and transition objects, as far as the compiler reads them (xstate's types hide most of it)
export interface XTransition {
  source: XNode;
  target?: readonly XNode[];
  reenter: boolean;
  guard?: unknown;
  actions: readonly unknown[];
}
export interface XInvoke {
  id: string;
  src: unknown;
  input?: unknown;
  systemId?: string;
  onSnapshot?: unknown;
}
export interface XNode {
  id: string;
  key: string;
  type: string;
  order: number;
  parent?: XNode;
  states: Record<string, XNode>;
  entry: readonly unknown[];
  exit: readonly unknown[];
  invoke: readonly XInvoke[];
  initial: { target: readonly XNode[]; actions: readonly unknown[] };
  transitions: Map<string, XTransition[]>;
  always?: readonly XTransition[];
  output?: unknown;
  config: { after?: unknown };
}

/** A resolved action: `assign` returns the next context; any other action changes nothing in a snapshot. */
export interface Action {
  readonly assigns: boolean;
  run(context: object, event: object): object;
}
export type Guard = (context: object, event: object) => boolean;

export interface Invoke {
  readonly id: string;
  readonly src: string;
  readonly logic: unknown;
  readonly systemId: string | undefined;
  readonly syncSnapshot: boolean;
  input(context: object, event: object): unknown;
}

export interface Transition {
  readonly source: Node;
  readonly target: Node | null;
  readonly reenter: boolean;
  readonly guard: Guard | null;
  readonly actions: readonly Action[];
  /** Microstep plans per active leaf (the configuration is the leaf and its ancestors). */
  readonly plans: Map<Node, Plan>;
}

export interface Node {
  readonly x: XNode;
  readonly key: string;
  readonly order: number;
  readonly type: 'atomic' | 'compound' | 'final';
  readonly parent: Node | undefined;
  /** The node then its ancestors up to the root: where an event's transitions are looked up, in that order. */
  readonly chain: Node[];
  readonly entry: readonly Action[];
  readonly exit: readonly Action[];
  readonly invokes: readonly Invoke[];
  readonly initial: Node | null;
  readonly initialActions: readonly Action[];
  readonly on: ReadonlyMap<string, readonly Transition[]>;
  readonly always: readonly Transition[] | null;
}

/** What a microstep does from one leaf: exit (deepest first), then the transition's actions, then enter. */
export interface Plan {
  readonly exit: readonly Node[];
  readonly enter: readonly Node[];
  /** Parallel to `enter`: entered by default (its initial actions run). */
  readonly defaultEntry: readonly boolean[];
  readonly leaf: Node;
  /** The whole configuration after the step, deepest first (exit actions when the machine is done). */
  readonly config: readonly Node[];
}

export interface CompiledChart {
  readonly machine: AnyStateMachine;
  readonly root: Node;
  /** The initial microstep: the root and its initial descendants, all entered by default. */
  readonly initial: Plan;
  readonly maxIterations: number;
  /** Every state by its xstate id (`migration.active.Transferring`, `step-monitorReplay`). */
  readonly byId: ReadonlyMap<string, Node>;
  /** The context factory's result (a function of input) or the literal context. */
  initialContext(input: unknown): object;
}
// --- microstep plans: xstate's getTransitionDomain / computeExitSet / computeEntrySet on a single configuration ---

/** True when `n` is a proper descendant of `of`; every node descends from `undefined` (xstate's `isDescendant`). */
function isDescendant(n: Node, of: Node | undefined): boolean {
  let m = n;
  while (m.parent && m.parent !== of) m = m.parent;
  return m.parent === of;
}

function properAncestors(n: Node, to: Node | undefined): Node[] {
  const out: Node[] = [];
  if (n === to) return out;
  for (let m = n.parent; m && m !== to; m = m.parent) out.push(m);
  return out;
}

type Step = Pick<Transition, 'source' | 'target' | 'reenter'> & { targets?: readonly Node[] };

function domainOf(t: Step): Node | undefined {
  const targets = t.targets ?? (t.target ? [t.target] : []);
  if (!t.reenter && targets.every((s) => s === t.source || isDescendant(s, t.source))) return t.source;
  const [head, ...tail] = [...targets, t.source];
  for (const anc of properAncestors(head!, undefined)) if (tail.every((s) => isDescendant(s, anc))) return anc;
  if (t.reenter) return undefined;
  let root = t.source;
  while (root.parent) root = root.parent;
  return root;
}

/** The plan of transition `t` taken from `leaf` (for the initial step, `initialChain` lists its targets). */
export function planOf(t: Step, leaf: Node, initialChain?: readonly Node[]): Plan {
  const active = leaf.chain;
  const targets = initialChain ?? (t.target ? [t.target] : []);
  const step = { ...t, targets };
  const domain = domainOf(step);
  const exit = new Set<Node>();
  if (!initialChain && targets.length > 0) {
    if (t.reenter && t.source === domain) exit.add(domain!);
    for (const n of active) if (isDescendant(n, domain)) exit.add(n);
  }
  const enter = new Set<Node>();
  const byDefault = new Set<Node>(initialChain ? [initialChain[0]!] : []);
  const addDescendants = (n: Node) => {
    if (n.type !== 'compound') return;
    const init = n.initial!;
    enter.add(init);
    byDefault.add(init);
    addDescendants(init);
  };
  for (const s of targets) {
    if (t.source !== s || t.source !== domain || t.reenter) {
      enter.add(s);
      byDefault.add(s);
    }
    addDescendants(s);
  }
  const reentrancy = !t.source.parent && t.reenter ? undefined : domain;
  for (const s of targets) {
    for (const anc of properAncestors(s, domain)) if (!reentrancy || isDescendant(anc, reentrancy)) enter.add(anc);
  }
  const exits = [...exit].sort((a, b) => b.order - a.order);
  const enters = [...enter].sort((a, b) => a.order - b.order);
  const config = new Set(initialChain ? [] : active);
  for (const n of exits) config.delete(n);
  for (const n of enters) config.add(n);
  const deepest = [...config].sort((a, b) => b.order - a.order);
  const next = deepest.find((n) => n.type !== 'compound');
  if (!next || next.chain.length !== config.size || next.chain.some((n) => !config.has(n))) {
    throw new NotCompilableError(leaf.x.id, `a transition of ${t.source.x.id} leaves no single active leaf`);
  }
  return {
    exit: exits,
    enter: enters,
    defaultEntry: enters.map((n) => byDefault.has(n)),
    leaf: next,
    config: next.chain,
  };
}
