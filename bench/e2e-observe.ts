// What the e2e benchmark reads besides the scenario's own figures: the consumer's RSS from the kubelet's
// /stats/summary (through the API server's node proxy), and the migration's events from the cluster's JetStream
// log, turned into the timeline and into "where the time goes": the wait before each event, by the event that
// ended it.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { type TimelineRow, timeline } from '../actors/timeline.ts';
import { openEventLog } from '../adapters/event-log/open.ts';
import type { EventEnvelope } from '../machines/envelope.ts';

interface StatsSummaryWire {
  pods?: {
    podRef: { name: string; namespace: string };
    containers?: { name: string; memory?: { rssBytes?: number; workingSetBytes?: number } }[];
  }[];
}

/** RSS (bytes) of `pod`'s containers as the kubelet of `node` reports them, or null when it has no figure yet. */
export async function podRssBytes(kc: KubeConfig, node: string, namespace: string, pod: string) {
  const core = kc.makeApiClient(CoreV1Api);
  const raw = await core.connectGetNodeProxyWithPath({ name: node, path: 'stats/summary' });
  const summary = (typeof raw === 'string' ? JSON.parse(raw) : raw) as StatsSummaryWire;
  const p = summary.pods?.find((x) => x.podRef.name === pod && x.podRef.namespace === namespace);
  const rss = p?.containers?.map((c) => c.memory?.rssBytes ?? 0).reduce((a, b) => a + b, 0);
  return rss ? rss : null;
}

/**
 * Samples the RSS of `pod` every `everyMs` until `stop()`; resolves the largest figure seen (null if none).
 *
 * @example
 * ```ts
 * const rss = sampleRss(kc, 'node-a', 'bench', 'consumer-r1');
 * // ... until the checkpoint starts ...
 * const bytes = await rss.stop();
 * ```
 */
export function sampleRss(kc: KubeConfig, node: string, namespace: string, pod: string, everyMs = 1000) {
  let max: number | null = null;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const rss = await podRssBytes(kc, node, namespace, pod).catch(() => null);
      if (rss !== null) max = Math.max(max ?? 0, rss);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop(): Promise<number | null> {
      stopped = true;
      await loop;
      return max;
    },
  };
}

/** The events of the StatefulMigration `namespace/name` (its newest instance) from the JetStream log. */
export async function readMigrationEvents(natsUrl: string, namespace: string, name: string) {
  const log = await openEventLog({ kind: 'nats', servers: natsUrl }, pino({ level: 'warn' }));
  try {
    const key = (await log.list('StatefulMigration')).filter((k) => k.id.startsWith(`${namespace}/${name}/`)).at(-1);
    return key ? await log.read(key) : [];
  } finally {
    await log.close();
  }
}

/**
 * The wait (ms) before each event, summed by what it waited for: `<phase during the wait> · <event that ended
 * it>`; replay depth samples are split at SourceStopped (waiting for the target to catch up vs for the replay
 * queue to drain, settled).
 */
export function waitsByStep(envelopes: readonly EventEnvelope[]): { rows: TimelineRow[]; waits: Map<string, number> } {
  const { rows } = timeline(envelopes);
  const waits = new Map<string, number>();
  let sourceStopped = false;
  for (let i = 1; i < rows.length; i++) {
    const prev = rows[i - 1] as TimelineRow;
    const row = rows[i] as TimelineRow;
    const phase = prev.phase;
    let what = row.type;
    if (what === 'ReplayDepthSampled') what += sourceStopped ? ' (after SourceStopped)' : ' (before SourceStopped)';
    if (row.type === 'SourceStopped') sourceStopped = true;
    const label = `${phase} · ${what}`;
    waits.set(label, (waits.get(label) ?? 0) + (row.offsetMs - prev.offsetMs));
  }
  return { rows, waits };
}

/** The longest the source took to answer /healthz, and when that answer was asked for (epoch ms). */
export interface FreezeReport {
  longestMs: number;
  startedAt: number;
  probes: number;
}

/**
 * Asks `url()` (null until the address is known) for /healthz every `everyMs` with a `timeoutMs` that outlasts a
 * CRIU freeze, so the freeze shows as one slow answer with its start time (the scenario's own 10 ms probe gives
 * up after 1 s and reports longer freezes as downtime, without a time).
 */
export function probeFreeze(url: () => string | null, everyMs = 100, timeoutMs = 10_000) {
  let stopped = false;
  let worst: FreezeReport = { longestMs: 0, startedAt: 0, probes: 0 };
  let probes = 0;
  const loop = (async () => {
    while (!stopped) {
      const u = url();
      const t0 = Date.now();
      if (u) {
        const ok = await fetch(u, { signal: AbortSignal.timeout(timeoutMs) })
          .then((r) => r.arrayBuffer().then(() => r.ok))
          .catch(() => false);
        probes++;
        const ms = Date.now() - t0;
        if (ok && ms > worst.longestMs) worst = { longestMs: ms, startedAt: t0, probes };
      }
      await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - t0))));
    }
  })();
  return {
    async stop(): Promise<FreezeReport> {
      stopped = true;
      await loop;
      return { ...worst, probes };
    },
  };
}

/** The pod's IP once it has one (null before). */
export async function podIp(kc: KubeConfig, namespace: string, pod: string): Promise<string | null> {
  const p = await kc
    .makeApiClient(CoreV1Api)
    .readNamespacedPod({ name: pod, namespace })
    .catch(() => null);
  return p?.status?.podIP ?? null;
}
