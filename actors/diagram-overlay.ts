/**
 * What one chart instance did, from its events alone (the log is the truth): the states it visited with the time
 * spent in each, and the states it is in now. Drawn over the chart by diagram.ts (Mermaid) and diagram-dot.ts
 * (SVG). Times are from event timestamps: the configuration after event i holds until event i+1; a phase's time
 * is the machine's own exact phase timing (machines/phase-timing.ts) when it has one.
 */
import type { AnyStateNode, StateValue } from 'xstate';
import type { EventEnvelope } from '../machines/envelope.ts';
import { FastFold } from '../machines/fast-fold.ts';
import type { AnyChart } from './chart.ts';
import type { Overlay } from './diagram.ts';
import { parseEvent } from './event-schema.ts';

export interface InstanceOverlay extends Overlay {
  /** The chart's phase now (`chart.phaseOf`). */
  phase: string;
  /** True once the instance reached a final state. */
  done: boolean;
  /** The machine's state value now. */
  value: StateValue;
  startedAt: number;
  lastEventAt: number;
  /** The machine's context now (the chart's own business). */
  context: unknown;
}

/** The state nodes of a configuration: every node on the path to each active leaf, the root excluded. */
export function configurationOf(root: AnyStateNode, value: StateValue): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const walk = (node: AnyStateNode, v: StateValue) => {
    if (typeof v === 'string') {
      const child = node.states[v];
      if (child) out.push(child);
      return;
    }
    for (const [key, sub] of Object.entries(v)) {
      const child = node.states[key];
      if (!child) continue;
      out.push(child);
      if (sub !== undefined) walk(child, sub as StateValue);
    }
  };
  walk(root, value);
  return out;
}

/**
 * Folds an instance's events and returns what it visited, for how long, and where it is now. A running
 * instance's current states count until `now` (default: its last event).
 *
 * @example
 * ```ts
 * const o = overlayOf(migrationChart, await reader.read(key), Date.now());
 * toMermaid(migrationChart.machine, { overlay: o });
 * ```
 */
export function overlayOf(chart: AnyChart, envelopes: readonly EventEnvelope[], now?: number): InstanceOverlay {
  const first = envelopes[0];
  if (!first) throw new TypeError('overlayOf: an instance has at least one event');
  const root = chart.machine.root as AnyStateNode;
  const visited = new Map<string, number>();
  let fold: FastFold<never, never, never> | null = null;
  let config: AnyStateNode[] = [];
  let since = Date.parse(first.at);
  const startedAt = since;
  const spend = (until: number) => {
    for (const n of config) visited.set(n.id, (visited.get(n.id) ?? 0) + Math.max(0, until - since));
    since = until;
  };
  for (const env of envelopes) {
    const ev = parseEvent(chart, env, env.id, env.seq) as never;
    const at = Date.parse(env.at);
    spend(at);
    if (fold) fold.apply(ev);
    else fold = new FastFold(chart as never, env.id, ev);
    config = configurationOf(root, fold.value);
    for (const n of config) if (!visited.has(n.id)) visited.set(n.id, 0);
  }
  const f = fold as FastFold<never, never, never>;
  const done = f.status === 'done';
  const lastEventAt = Date.parse(envelopes.at(-1)!.at);
  if (!done) spend(Math.max(lastEventAt, now ?? lastEventAt));
  // a phase's exact timing, where the chart keeps one
  const timings = (f.context as { phaseTimings?: Record<string, number | undefined> }).phaseTimings ?? {};
  const exact = (node: AnyStateNode) => {
    const t = timings[node.key];
    if (t !== undefined && visited.has(node.id)) visited.set(node.id, t);
    for (const c of Object.values(node.states)) exact(c as AnyStateNode);
  };
  exact(root);
  return {
    visited,
    current: new Set(config.map((n) => n.id)),
    phase: chart.phaseOf(f.snapshot as never),
    done,
    value: f.value,
    startedAt,
    lastEventAt,
    context: f.context,
  };
}
