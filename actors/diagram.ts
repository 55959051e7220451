/**
 * The chart as a diagram, generated from the machine itself with `xstate/graph`: one model (states nested as in
 * the machine, transitions with their labels) drawn as a Mermaid state diagram here and as a Graphviz graph in
 * diagram-dot.ts (`ms2m diagram`, the UI). `npm run diagram` writes docs/migration.mmd; a test fails when the
 * committed file is stale. A failed step's retry (re-entry after backoff) is drawn as a loop on the step, so the
 * picture reads like the phase table. An {@link Overlay} (diagram-overlay.ts: what one instance's events
 * visited) marks visited states with their time spent and the current state.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { type DirectedGraphNode, toDirectedGraph } from 'xstate/graph';

/** One drawn state: a leaf (its descendants collapsed into it when `phasesOnly`) or a compound with children. */
export interface ChartNode {
  /** The state node's id in the machine (`migration.active.Pending`, `step.inspectSource`). */
  id: string;
  key: string;
  final: boolean;
  /** A choice: left at once by guarded eventless transitions (a route). */
  choice: boolean;
  /** The initial child's id (compound states). */
  initial?: string;
  children: ChartNode[];
}

export interface ChartEdge {
  from: string;
  to: string;
  label: string;
}

/** The drawable chart: the root state (its children are the top-level states) and the transitions between drawn states. */
export interface ChartModel {
  root: ChartNode;
  edges: ChartEdge[];
}

/** What one instance did, drawn over the chart: time spent in each visited state (ms) and the current states. */
export interface Overlay {
  /** State node id -> milliseconds spent there (visited states only). */
  visited: ReadonlyMap<string, number>;
  /** The state node ids of the current configuration (the leaves and their ancestors). */
  current: ReadonlySet<string>;
}

const descendants = (n: DirectedGraphNode): DirectedGraphNode[] => n.children.flatMap((c) => [c, ...descendants(c)]);
const mid = (id: string) => id.replace(/[^A-Za-z0-9]/g, '_');

/** The chart's drawable model; `phasesOnly` draws every state below a phase at its phase (the overview). */
export function chartModel(machine: AnyStateMachine, opts: { phasesOnly?: boolean } = {}): ChartModel {
  const root = toDirectedGraph(machine);
  const shown = new Set<string>();
  const leaf = (n: DirectedGraphNode) =>
    n.children.length === 0 || (opts.phasesOnly === true && n.stateNode.parent?.key === 'active');
  const collect = (n: DirectedGraphNode) => {
    shown.add(n.id);
    if (!leaf(n)) n.children.forEach(collect);
  };
  collect(root);
  // a target inside a collapsed step is drawn at the step
  const display = (s: AnyStateNode): string => {
    let node: AnyStateNode | undefined = s;
    while (node && !shown.has(node.id)) node = node.parent;
    return node?.id ?? s.id;
  };
  const edges = new Map<string, ChartEdge>();
  const build = (n: DirectedGraphNode): ChartNode => {
    const all = leaf(n) ? [n, ...descendants(n)] : [n];
    const add = (from: string, to: string, text: string) =>
      edges.set(`${mid(from)} --> ${mid(to)} : ${text}`, { from, to, label: text });
    for (const owner of all) {
      // eventless transitions (a route by guard): xstate/graph leaves them out
      for (const t of owner.stateNode.always ?? []) {
        const g = t.guard as string | { type?: string } | undefined;
        const guard = typeof g === 'string' ? g : g?.type;
        for (const target of t.target ?? []) {
          const from = display(owner.stateNode);
          const to = display(target);
          if (from !== to) add(from, to, guard ? `[${guard}]` : 'otherwise');
        }
      }
      for (const e of owner.edges) {
        const from = display(e.source);
        const to = display(e.target);
        const g = e.transition.guard as string | { type?: string } | undefined;
        const guard = typeof g === 'string' ? g : g?.type;
        const label = `${e.label.text}${guard && guard !== 'isPhaseDeadline' ? ` [${guard}]` : ''}`;
        if (from === to && !label.startsWith('StepFailed')) continue;
        if (from === to && opts.phasesOnly) continue;
        const text =
          from === to ? 'retry (backoff)' : label.replace(/ \[isStep\]$/, '').replace(/^xstate\.\w+.*$/, 'always');
        add(from, to, text);
      }
    }
    const initial = n.stateNode.initial?.target?.[0] as AnyStateNode | undefined;
    const isLeaf = leaf(n) && n !== root;
    return {
      id: n.id,
      key: n.stateNode.key,
      final: n.stateNode.type === 'final',
      choice: isLeaf && (n.stateNode.always?.length ?? 0) > 0 && n.stateNode.invoke.length === 0,
      ...(initial && !isLeaf ? { initial: initial.id } : {}),
      children: isLeaf ? [] : n.children.map(build),
    };
  };
  const model = build(root);
  const sorted = [...edges.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
  return { root: model, edges: sorted };
}

/** `1234` -> `1.234 s`, `65000` -> `1 min 5.0 s`: the time spent in a state, as drawn on the diagram. */
export function formatSpent(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)} s`;
  const min = Math.floor(ms / 60_000);
  return `${min} min ${((ms - min * 60_000) / 1000).toFixed(1)} s`;
}

/** A state's label: its key, and with an overlay the time spent there. */
export function stateLabel(n: ChartNode, overlay?: Overlay): string {
  const spent = overlay?.visited.get(n.id);
  return spent === undefined || n.final ? n.key : `${n.key} (${formatSpent(spent)})`;
}

/**
 * The chart as a Mermaid `stateDiagram-v2`; with an overlay, visited states carry their time spent and are
 * styled `visited`, the current leaves `current`.
 *
 * @example
 * ```ts
 * writeFileSync('docs/migration.mmd', toMermaid(migrationMachine));
 * ```
 */
export function toMermaid(machine: AnyStateMachine, opts: { phasesOnly?: boolean; overlay?: Overlay } = {}): string {
  const model = chartModel(machine, opts);
  const { overlay } = opts;
  const lines = ['stateDiagram-v2'];
  const walk = (n: ChartNode, depth: number) => {
    const pad = '  '.repeat(depth);
    const label = stateLabel(n, overlay);
    if (n !== model.root && n.children.length > 0) {
      lines.push(`${pad}state "${label}" as ${mid(n.id)} {`);
      if (n.initial) lines.push(`${pad}  [*] --> ${mid(n.initial)}`);
      for (const c of n.children) walk(c, depth + 1);
      lines.push(`${pad}}`);
      return;
    }
    if (n !== model.root) lines.push(`${pad}state "${label}" as ${mid(n.id)}`);
    else {
      if (n.initial) lines.push(`  [*] --> ${mid(n.initial)}`);
      for (const c of n.children) walk(c, 1);
    }
    if (n.final) lines.push(`${pad}${mid(n.id)} --> [*]`);
  };
  walk(model.root, 0);
  lines.push(...model.edges.map((e) => `  ${mid(e.from)} --> ${mid(e.to)} : ${e.label}`));
  if (overlay) {
    const leaves = new Set<string>();
    const visit = (n: ChartNode) => {
      if (n.children.length === 0 && n !== model.root) leaves.add(n.id);
      n.children.forEach(visit);
    };
    visit(model.root);
    const current = [...overlay.current].filter((id) => leaves.has(id));
    const visited = [...overlay.visited.keys()].filter((id) => leaves.has(id) && !overlay.current.has(id));
    lines.push('  classDef visited fill:#c8e6c9,stroke:#2e7d32');
    lines.push('  classDef current fill:#ffb74d,stroke:#e65100,stroke-width:3px');
    if (visited.length > 0) lines.push(`  class ${visited.map(mid).join(',')} visited`);
    if (current.length > 0) lines.push(`  class ${current.map(mid).join(',')} current`);
  }
  return `${lines.join('\n')}\n`;
}

const START = '<!-- diagram:start (generated by npm run diagram) -->';
const END = '<!-- diagram:end -->';

/** README.md with the generated overview between its diagram markers. */
export function readmeWithDiagram(readme: string, mermaid: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md needs the markers ${START} and ${END}`);
  return `${readme.slice(0, a + START.length)}\n\`\`\`mermaid\n${mermaid}\`\`\`\n${readme.slice(b)}`;
}
