/**
 * The chart as a Graphviz graph (DOT) and as SVG: Graphviz (`@viz-js/viz`, its WebAssembly build) lays it out
 * and draws it. Compound states are clusters, each entered through its initial point. With an overlay, visited
 * states are green with their time spent and the current states orange; every state's SVG group carries
 * `id="state:<state node id>"` and the classes `state`, `visited`, `current` (the UI and its tests read them).
 */
import type { AnyStateMachine } from 'xstate';
import { type ChartModel, type ChartNode, chartModel, type Overlay, stateLabel } from './diagram.ts';

const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const init = (id: string) => `init:${id}`;
const cluster = (id: string) => `cluster_${id}`;

const COLORS = {
  idle: { fill: '#ffffff', stroke: '#90a4ae', font: '#37474f' },
  visited: { fill: '#c8e6c9', stroke: '#2e7d32', font: '#1b5e20' },
  current: { fill: '#ffb74d', stroke: '#e65100', font: '#3e2723' },
  clusterIdle: { fill: '#f5f7f8', stroke: '#b0bec5' },
  clusterVisited: { fill: '#eef7ee', stroke: '#66bb6a' },
  clusterCurrent: { fill: '#fff3e0', stroke: '#ef6c00' },
};

export interface DotOptions {
  phasesOnly?: boolean;
  overlay?: Overlay;
  /** The graph's title, drawn at the top. */
  title?: string;
}

/**
 * The chart as DOT.
 *
 * @example
 * ```ts
 * const dot = toDot(migrationChart.machine, { overlay: overlayOf(migrationChart, envelopes) });
 * ```
 */
export function toDot(machine: AnyStateMachine, opts: DotOptions = {}): string {
  const model: ChartModel = chartModel(machine, opts);
  const { overlay } = opts;
  const out: string[] = [
    `digraph ${q(machine.id)} {`,
    '  compound=true; rankdir=TB; newrank=true; nodesep=0.35; ranksep=0.45;',
    `  graph [fontname="Helvetica" fontsize=12${opts.title ? ` label=${q(opts.title)} labelloc=t fontsize=16` : ''}];`,
    '  node [fontname="Helvetica" fontsize=11 shape=box style="rounded,filled" penwidth=1.2];',
    '  edge [fontname="Helvetica" fontsize=9 color="#78909c" fontcolor="#455a64" arrowsize=0.7];',
  ];
  const state = (n: ChartNode) =>
    overlay?.current.has(n.id) ? 'current' : overlay?.visited.has(n.id) ? 'visited' : ('idle' as const);
  // a compound state is reached through its initial point, left from it (lhead/ltail draw the edge at the box)
  const anchor = new Map<string, string>();
  const draw = (n: ChartNode, depth: number) => {
    const pad = '  '.repeat(depth);
    const s = state(n);
    const classes = `state ${s === 'idle' ? '' : s === 'current' ? 'visited current' : 'visited'}`.trim();
    if (n.children.length > 0) {
      const c = s === 'current' ? COLORS.clusterCurrent : s === 'visited' ? COLORS.clusterVisited : COLORS.clusterIdle;
      out.push(`${pad}subgraph ${q(cluster(n.id))} {`);
      out.push(
        `${pad}  id=${q(`state:${n.id}`)} class=${q(`${classes} compound`)} label=${q(stateLabel(n, overlay))}`,
        `${pad}  style="rounded,filled" fillcolor=${q(c.fill)} color=${q(c.stroke)} penwidth=${s === 'current' ? 2 : 1}`,
        `${pad}  labeljust=l fontsize=12;`,
        `${pad}  ${q(init(n.id))} [shape=point width=0.09 label="" color="#263238" style=filled fillcolor="#263238"];`,
      );
      anchor.set(n.id, init(n.id));
      for (const child of n.children) draw(child, depth + 1);
      if (n.initial) out.push(`${pad}  ${q(init(n.id))} -> ${q(entry(n.initial))} [arrowsize=0.5];`);
      out.push(`${pad}}`);
      return;
    }
    const c = COLORS[s];
    out.push(
      `${pad}${q(n.id)} [id=${q(`state:${n.id}`)} class=${q(classes)} label=${q(stateLabel(n, overlay))}` +
        ` fillcolor=${q(c.fill)} color=${q(c.stroke)} fontcolor=${q(c.font)}` +
        `${s === 'current' ? ' penwidth=3' : ''}${n.final ? ' peripheries=2' : ''}` +
        `${n.choice ? ' shape=diamond style=filled fontsize=9 height=0.4' : ''}];`,
    );
  };
  const byId = new Map<string, ChartNode>();
  const index = (n: ChartNode) => {
    byId.set(n.id, n);
    n.children.forEach(index);
  };
  index(model.root);
  const entry = (id: string) => ((byId.get(id)?.children.length ?? 0) > 0 ? init(id) : id);
  for (const child of model.root.children) draw(child, 1);
  if (model.root.initial) {
    out.push(`  ${q(init(model.root.id))} [shape=point width=0.12 label="" color="#263238"];`);
    out.push(`  ${q(init(model.root.id))} -> ${q(entry(model.root.initial))}${lhead(model.root.initial)};`);
  }
  function lhead(id: string): string {
    return anchor.has(id) ? ` [lhead=${q(cluster(id))}]` : '';
  }
  for (const e of model.edges) {
    const from = anchor.get(e.from) ?? e.from;
    const to = entry(e.to);
    const attrs = [`label=${q(e.label)}`];
    if (anchor.has(e.from)) attrs.push(`ltail=${q(cluster(e.from))}`);
    if (anchor.has(e.to)) attrs.push(`lhead=${q(cluster(e.to))}`);
    if (e.label.startsWith('StepFailed') || e.label.startsWith('DeadlineExceeded') || e.label === 'CancelRequested')
      attrs.push('color="#e57373"', 'fontcolor="#c62828"', 'style=dashed', 'constraint=false');
    if (e.label === 'retry (backoff)') attrs.push('color="#b0bec5"', 'fontcolor="#78909c"');
    out.push(`  ${q(from)} -> ${q(to)} [${attrs.join(' ')}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

type Viz = Awaited<ReturnType<typeof import('@viz-js/viz').instance>>;
let viz: Promise<Viz> | null = null;

/** Renders DOT to SVG with Graphviz (`dot` layout); throws with Graphviz's own message on a bad graph. */
export async function renderDot(dot: string): Promise<string> {
  viz ??= import('@viz-js/viz').then((m) => m.instance());
  const result = (await viz).render(dot, { format: 'svg', engine: 'dot' });
  if (result.status !== 'success') {
    throw new Error(`Graphviz could not draw the chart: ${result.errors.map((e) => e.message).join('; ')}`);
  }
  return result.output;
}

/**
 * The chart as SVG.
 *
 * @example
 * ```ts
 * writeFileSync('chart.svg', await toSvg(migrationChart.machine, { overlay }));
 * ```
 */
export async function toSvg(machine: AnyStateMachine, opts: DotOptions = {}): Promise<string> {
  return renderDot(toDot(machine, opts));
}
