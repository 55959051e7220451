/**
 * What the UI shows of one instance, derived from its events alone (the log is the truth): a summary for the
 * list, and for its page the timeline rows (actors/timeline.ts), the phase segments, replay depth and bytes over
 * time, and where it is on the chart (actors/diagram-overlay.ts). The shapes are in api.ts (the client reads them).
 */
import type { AnyChart } from '../../actors/chart.ts';
import { type InstanceOverlay, overlayOf } from '../../actors/diagram-overlay.ts';
import { parseEvent } from '../../actors/event-schema.ts';
import { timeline } from '../../actors/timeline.ts';
import { vrStatusFromLog } from '../../actors/volume-resize-status.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';
import { FastFold } from '../../machines/fast-fold.ts';
import { MIGRATION_KIND } from '../../machines/migration-chart.ts';
import { VOLUME_RESIZE_KIND } from '../../machines/volume-resize-chart.ts';
import type { InstanceDetail, InstanceSummary, PhaseSegment, TimelineRow, VolumeResizeView } from './api.ts';
import { nameOf } from './log-source.ts';

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Timeline rows of any chart (a migration's come from actors/timeline.ts, with its messages). */
function rowsOf(chart: AnyChart, envelopes: readonly EventEnvelope[]): TimelineRow[] {
  if (chart.kind === MIGRATION_KIND) return timeline(envelopes).rows;
  let fold: FastFold<never, never, never> | null = null;
  const start = Date.parse(envelopes[0]!.at);
  return envelopes.map((env) => {
    const ev = parseEvent(chart, env, env.id, env.seq) as never;
    if (fold) fold.apply(ev);
    else fold = new FastFold(chart as never, env.id, ev);
    const ctx = fold.context as { message?: unknown };
    return {
      seq: env.seq,
      at: env.at,
      offsetMs: Date.parse(env.at) - start,
      type: env.type,
      phase: chart.phaseOf(fold.snapshot as never),
      message: typeof ctx.message === 'string' ? ctx.message : '',
    };
  });
}

function detailsOf(kind: string, context: Record<string, unknown>): Record<string, string> {
  const spec = (context.spec ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  const put = (k: string, v: unknown) => {
    if (typeof v === 'string' && v !== '') out[k] = v;
  };
  if (kind === VOLUME_RESIZE_KIND) {
    put('statefulSet', spec.statefulSetName);
    put(
      'volumes',
      (spec.volumes as Array<{ name: string; newSize: string }> | undefined)
        ?.map((v) => `${v.name} → ${v.newSize}`)
        .join(', '),
    );
    if (spec.dryRun === true) put('dryRun', 'true');
    return out;
  }
  if (kind !== MIGRATION_KIND) return {};
  put('strategy', context.strategy ?? spec.migrationStrategy);
  put('transfer', spec.transferMode);
  put('replay', spec.replayMode);
  put('pod', spec.sourcePod);
  put('target', spec.targetNode);
  return out;
}

/**
 * Everything the page of one instance shows.
 *
 * @example
 * ```ts
 * const d = instanceDetail(migrationChart, await reader.read(key), Date.now());
 * ```
 */
export function instanceDetail(chart: AnyChart, envelopes: readonly EventEnvelope[], now: number): InstanceDetail {
  const first = envelopes[0];
  if (!first) throw new TypeError(`${chart.kind}: an instance has at least one event`);
  const overlay = overlayOf(chart, envelopes, now);
  const rows = rowsOf(chart, envelopes);
  const start = Date.parse(first.at);
  const end = overlay.done ? overlay.lastEventAt : Math.max(now, overlay.lastEventAt);
  const segments: PhaseSegment[] = [];
  for (const r of rows) {
    const last = segments.at(-1);
    if (last && last.phase === r.phase) continue;
    if (last) last.endMs = r.offsetMs;
    segments.push({ phase: r.phase, startMs: r.offsetMs, endMs: end - start });
  }
  // a final phase is a point in time, not a stretch
  if (overlay.done && segments.length > 1) segments.pop();
  const replayDepth: InstanceDetail['replayDepth'] = [];
  const bytes: InstanceDetail['bytes'] = [];
  for (const env of envelopes) {
    const t = (Date.parse(env.at) - start) / 1000;
    const d = env.data as Record<string, unknown>;
    if (env.type === 'ReplayDepthSampled')
      replayDepth.push({ t, depth: num(d.depth), ready: num(d.ready), unacked: num(d.unacked) });
    if (env.type === 'TransferProgressed')
      bytes.push({ t, mib: num(d.bytesTransferred) / 2 ** 20, totalMib: num(d.bytesTotal) / 2 ** 20 });
    if (env.type === 'TransferCompleted')
      bytes.push({ t, mib: num(d.bytes) / 2 ** 20, totalMib: num(d.bytes) / 2 ** 20 });
  }
  const ctx = overlay.context as Record<string, unknown>;
  let timings = (ctx.phaseTimings ?? {}) as Record<string, number>;
  let volumeResize: VolumeResizeView | undefined;
  if (chart.kind === VOLUME_RESIZE_KIND) {
    // the same projection the operator writes to the resource's status
    const status = vrStatusFromLog(envelopes);
    timings = status?.phaseTimingsMs ?? {};
    volumeResize = { plan: status?.plan ?? [], volumes: status?.volumeStatuses ?? [] };
    // bytes copied over time, summed over the claims
    const byClaim = new Map<string, { done: number; total: number }>();
    for (const env of envelopes) {
      if (env.type !== 'CopyProgressed' && env.type !== 'VolumeCopied') continue;
      const d = env.data as Record<string, unknown>;
      // the checksum pass reports its own progress from 0: a claim's copied bytes never go back
      const claim = `${num(d.replica)}/${String(d.volume)}`;
      const done = Math.max(byClaim.get(claim)?.done ?? 0, num(d.bytesTransferred));
      byClaim.set(claim, { done, total: num(d.bytesTotal) });
      const sum = (f: (c: { done: number; total: number }) => number) =>
        [...byClaim.values()].reduce((a, c) => a + f(c), 0) / 2 ** 20;
      bytes.push({ t: (Date.parse(env.at) - start) / 1000, mib: sum((c) => c.done), totalMib: sum((c) => c.total) });
    }
  }
  return {
    ...summaryOf(chart, envelopes, overlay, now),
    rows,
    segments,
    replayDepth,
    bytes,
    phaseTimings: timings,
    current: [...overlay.current],
    visited: Object.fromEntries(overlay.visited),
    ...(volumeResize ? { volumeResize } : {}),
  };
}

/** The list entry of an instance (one fold). */
export function instanceSummary(chart: AnyChart, envelopes: readonly EventEnvelope[], now: number): InstanceSummary {
  const first = envelopes[0];
  if (!first) throw new TypeError(`${chart.kind}: an instance has at least one event`);
  return summaryOf(chart, envelopes, overlayOf(chart, envelopes, now), now);
}

function summaryOf(
  chart: AnyChart,
  envelopes: readonly EventEnvelope[],
  overlay: InstanceOverlay,
  now: number,
): InstanceSummary {
  const first = envelopes[0]!;
  const ctx = overlay.context as Record<string, unknown>;
  const end = overlay.done ? overlay.lastEventAt : Math.max(now, overlay.lastEventAt);
  return {
    kind: chart.kind,
    id: first.id,
    name: nameOf(first.id),
    phase: overlay.phase,
    done: overlay.done,
    message: typeof ctx.message === 'string' ? ctx.message : '',
    startedAt: first.at,
    lastEventAt: envelopes.at(-1)!.at,
    elapsedMs: end - overlay.startedAt,
    events: envelopes.length,
    details: detailsOf(chart.kind, ctx),
  };
}
