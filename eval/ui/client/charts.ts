/**
 * The instance page's charts as vega-lite specs, drawn by vega-embed (bundled; SVG renderer): the phase
 * timeline, replay depth and checkpoint bytes over time.
 */
import embed, { type VisualizationSpec } from 'vega-embed';
import type { InstanceDetail } from '../api.ts';

const PHASE_COLORS: Record<string, string> = {
  Pending: '#90a4ae',
  Checkpointing: '#7e57c2',
  Transferring: '#29b6f6',
  Restoring: '#26a69a',
  Replaying: '#ffa726',
  Finalizing: '#66bb6a',
};

const base = {
  width: 'container',
  height: 180,
  background: 'transparent',
  config: { view: { stroke: null } },
} as const;

export function phaseTimelineSpec(d: InstanceDetail): VisualizationSpec {
  const data = d.segments.map((s) => ({
    phase: s.phase,
    start: s.startMs / 1000,
    end: Math.max(s.endMs, s.startMs + 1) / 1000,
    seconds: (s.endMs - s.startMs) / 1000,
  }));
  const domain = [...new Set(data.map((s) => s.phase))];
  return {
    ...base,
    height: Math.max(60, 26 * domain.length),
    data: { values: data },
    mark: { type: 'bar', cornerRadius: 3 },
    encoding: {
      y: { field: 'phase', type: 'nominal', sort: domain, title: null },
      x: { field: 'start', type: 'quantitative', title: 'seconds since the start' },
      x2: { field: 'end' },
      color: {
        field: 'phase',
        type: 'nominal',
        legend: null,
        scale: {
          domain,
          range: domain.map((p) => PHASE_COLORS[p] ?? (p.includes('compensating') ? '#e57373' : '#b0bec5')),
        },
      },
      tooltip: [
        { field: 'phase', type: 'nominal' },
        { field: 'seconds', type: 'quantitative', format: '.3f', title: 'seconds' },
      ],
    },
  } as VisualizationSpec;
}

export function replayDepthSpec(d: InstanceDetail): VisualizationSpec {
  const values = d.replayDepth.flatMap((p) => [
    { t: p.t, series: 'depth', messages: p.depth },
    { t: p.t, series: 'ready', messages: p.ready },
    { t: p.t, series: 'unacked', messages: p.unacked },
  ]);
  return {
    ...base,
    data: { values },
    mark: { type: 'line', point: true, interpolate: 'step-after' },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'seconds since the start' },
      y: { field: 'messages', type: 'quantitative', title: 'messages in the replay queue' },
      color: { field: 'series', type: 'nominal', title: null, scale: { range: ['#ef6c00', '#42a5f5', '#9e9e9e'] } },
      tooltip: [
        { field: 't', type: 'quantitative', format: '.3f', title: 's' },
        { field: 'series', type: 'nominal' },
        { field: 'messages', type: 'quantitative' },
      ],
    },
  } as VisualizationSpec;
}

export function bytesSpec(d: InstanceDetail): VisualizationSpec {
  const x = { field: 't', type: 'quantitative', title: 'seconds since the start' } as const;
  const total = Math.max(0, ...d.bytes.map((b) => b.totalMib));
  return {
    ...base,
    layer: [
      {
        data: { values: d.bytes },
        mark: { type: 'area', line: true, point: true, opacity: 0.35, color: '#29b6f6', interpolate: 'linear' },
        encoding: {
          x,
          y: {
            field: 'mib',
            type: 'quantitative',
            title: d.volumeResize ? 'MiB copied (all claims)' : 'checkpoint MiB transferred',
          },
          tooltip: [
            { field: 't', type: 'quantitative', format: '.3f', title: 's' },
            { field: 'mib', type: 'quantitative', format: '.1f', title: 'MiB' },
          ],
        },
      },
      // the checkpoint's size: where the line ends
      {
        data: { values: [{ total }] },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#607d8b' },
        encoding: { y: { field: 'total', type: 'quantitative' } },
      },
    ],
  } as VisualizationSpec;
}

/** Draws `spec` into `el` as SVG; returns a function that frees it. */
export async function draw(el: HTMLElement, spec: VisualizationSpec | unknown): Promise<() => void> {
  const result = await embed(el, spec as VisualizationSpec, { renderer: 'svg', actions: false });
  return () => result.finalize();
}
