// End to end on the real local cluster: ShadowPod + Direct at 10 msg/s, E2E_RUNS (10) migrations one after
// another, each of a fresh consumer Pod sized with E2E_BALLAST_MIB of incompressible memory, each with its own
// runId and cleanup. Per phase and total medians (status.phaseTimings), the longest downtime and stall the 10 ms
// probe saw, lost and duplicated sums, checkpoint size and consumer RSS, beside SHADOW's published medians of the
// closest configuration (bench/shadow-reference.ts). Targets (issue `e2e`): total <= 3 s for a ~30 MB consumer,
// downtime 0 ms, lost 0. The consumer's processing delay is SHADOW's (10 ms) unless E2E_DELAY_MS says otherwise.
// Timelines and raw events of every run go to .ms2m/bench/e2e-<time>/ (E2E_OUT_DIR). The cluster is shared: run it as
// `flock /tmp/ms2m-cluster.lock npm run bench -- e2e`. Figures and analysis: docs/benchmarks.md, "e2e".
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { formatRow } from '../actors/timeline.ts';
import { clusterUp } from '../cluster/local/cluster.ts';
import { buildClusterImages } from '../cluster/local/images.ts';
import { runScenario, type ScenarioResult } from '../eval/scenario.ts';
import { HTTP_PORT } from '../eval/workloads/manifests.ts';
import { cleanupRun } from './e2e-cleanup.ts';
import { type FreezeReport, podIp, probeFreeze, readMigrationEvents, sampleRss, waitsByStep } from './e2e-observe.ts';
import { loadShadowReference, median } from './shadow-reference.ts';

const RUNS = Number(process.env.E2E_RUNS ?? 10);
const RATE = Number(process.env.E2E_RATE ?? 10);
const SECONDS = Number(process.env.E2E_SECONDS ?? 20);
const BALLAST_MIB = Number(process.env.E2E_BALLAST_MIB ?? 18);
const DELAY_MS = Number(process.env.E2E_DELAY_MS ?? 10);
const NAMESPACE = 'ms2m-bench-e2e';
const PHASES = ['Pending', 'Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing'] as const;
/**
 * SHADOW's closest configuration: its March runs, whose transfer is the agent fast path (node to node, like our
 * Direct; the February `shadowpod-70.csv` runs went through a transfer Job, ~5 s). SHADOW measured ShadowPod on
 * a StatefulSet pod only; ours is a plain Pod.
 */
const SHADOW = {
  file: 'migration-metrics-statefulset-shadowpod-20260316-041245.csv',
  configuration: 'statefulset-shadowpod',
};

const err = (line: string) => console.error(line);
const s3 = (x: number) => Number(x.toFixed(3));
const mib = (b: number) => b / 2 ** 20;
/** The largest value, or null when no run finished (a 0 would read as "no downtime"). */
const maxOf = (xs: number[]): number | null => (xs.length ? Math.max(...xs) : null);

interface RunFigures {
  runId: string;
  result: ScenarioResult;
  checkpointBytes: number | null;
  rssBytes: number | null;
  waits: Map<string, number>;
  freeze: FreezeReport;
  /** The freeze ended inside the checkpoint step (ReplayQueueCreated .. CheckpointCreated, +- 100 ms). */
  freezeInCheckpoint: boolean;
}

async function oneRun(
  kc: KubeConfig,
  images: { workloads: string },
  endpoints: { amqp: string; nats: string },
  runId: string,
  outDir: string,
  tag: string,
): Promise<RunFigures> {
  const source = `consumer-${runId}`;
  const rss = sampleRss(kc, 'node-a', NAMESPACE, source);
  let sourceIp: string | null = null;
  const findIp = setInterval(() => {
    if (!sourceIp) void podIp(kc, NAMESPACE, source).then((ip) => (sourceIp ??= ip));
  }, 500);
  const freeze = probeFreeze(() => (sourceIp ? `http://${sourceIp}:${HTTP_PORT}/healthz` : null));
  let lastPhase = '';
  let rssStopped: Promise<number | null> | null = null;
  let frozen: FreezeReport | null = null;
  try {
    const result = await runScenario({
      kc,
      image: images.workloads,
      amqpUrl: endpoints.amqp,
      namespace: NAMESPACE,
      runId,
      workload: 'pod',
      sourceNode: 'node-a',
      targetNode: 'node-b',
      spec: { migrationStrategy: 'ShadowPod', transferMode: 'Direct' },
      rate: RATE,
      messages: RATE * SECONDS,
      delayMs: DELAY_MS,
      ballastMib: BALLAST_MIB,
      migrationTimeoutMs: 90_000,
      onProgress: (p) => {
        // the consumer's RSS as it was before the checkpoint: stop sampling once the migration has started
        rssStopped ??= rss.stop();
        if (p.phase !== lastPhase) err(`${tag} +${(p.elapsedMs / 1000).toFixed(2)}s ${p.phase}`);
        lastPhase = p.phase;
      },
    });
    clearInterval(findIp);
    frozen = await freeze.stop();
    const envelopes = await readMigrationEvents(endpoints.nats, NAMESPACE, `mig-${runId}`);
    const { rows, waits } = waitsByStep(envelopes);
    writeFileSync(join(outDir, `${runId}.timeline.txt`), `${rows.map(formatRow).join('\n')}\n`);
    writeFileSync(join(outDir, `${runId}.events.json`), `${JSON.stringify(envelopes, null, 1)}\n`);
    writeFileSync(join(outDir, `${runId}.result.json`), `${JSON.stringify(result, null, 2)}\n`);
    const progress = (result.migration.status.progress ?? {}) as { bytesTotal?: number };
    const at = (type: string) => Date.parse(envelopes.find((e) => e.type === type)?.at ?? '') || Number.NaN;
    const freezeEnd = frozen.startedAt + frozen.longestMs;
    return {
      runId,
      result,
      checkpointBytes: progress.bytesTotal ?? null,
      rssBytes: await (rssStopped ?? rss.stop()),
      waits,
      freeze: frozen,
      freezeInCheckpoint: freezeEnd >= at('ReplayQueueCreated') - 100 && freezeEnd <= at('CheckpointCreated') + 100,
    };
  } finally {
    clearInterval(findIp);
    if (!frozen) await freeze.stop();
    await (rssStopped ?? rss.stop());
  }
}

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '))
    .join('\n');
}

export async function run(): Promise<Record<string, unknown>> {
  const shadow = loadShadowReference(SHADOW.file, SHADOW.configuration, RATE);
  const info = await clusterUp({ buildImages: buildClusterImages, log: (l) => err(`cluster: ${l}`) });
  const kc = new KubeConfig();
  kc.loadFromFile(info.kubeconfig);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = resolve(process.env.E2E_OUT_DIR ?? join('.ms2m/bench', `e2e-${stamp}`));
  mkdirSync(outDir, { recursive: true });
  err(
    `e2e: ${RUNS} runs of ShadowPod + Direct, ${RATE} msg/s for ${SECONDS} s, consumer delay ${DELAY_MS} ms, ballast ${BALLAST_MIB} MiB; timelines in ${outDir}`,
  );
  const base = Date.now().toString(36);
  const done: RunFigures[] = [];
  const failures: { runId: string; error: string }[] = [];
  for (let i = 0; i < RUNS; i++) {
    const runId = `e2e${base}r${i}`;
    const tag = `[e2e ${i + 1}/${RUNS} ${runId}]`;
    try {
      const f = await oneRun(kc, info.images, info.endpoints, runId, outDir, tag);
      done.push(f);
      const r = f.result;
      const phases = PHASES.map((p) => `${p} ${(r.migration.phaseSeconds[p] ?? 0).toFixed(3)}`).join(' ');
      err(
        `${tag} total ${r.migration.totalSeconds.toFixed(3)} s | ${phases} | downtime ${r.downtime.maxDowntimeMs} ms, stall ${r.downtime.maxLatencyMs} ms | source frozen ${f.freeze.longestMs} ms (${f.freezeInCheckpoint ? 'during the checkpoint' : 'NOT during the checkpoint'}) | lost ${r.accounting.lost}, duplicated ${r.accounting.duplicated}, exactly once ${r.accounting.exactlyOnce} | checkpoint ${f.checkpointBytes === null ? '-' : mib(f.checkpointBytes).toFixed(1)} MiB, RSS ${f.rssBytes === null ? '-' : mib(f.rssBytes).toFixed(1)} MiB`,
      );
    } catch (e) {
      failures.push({ runId, error: (e as Error).message });
      err(`${tag} FAILED: ${(e as Error).message}`);
    } finally {
      await cleanupRun(kc, NAMESPACE, runId, info.endpoints.amqp, err);
    }
  }

  const ours = (p: string) => median(done.map((f) => f.result.migration.phaseSeconds[p] ?? 0));
  const total = median(done.map((f) => f.result.migration.totalSeconds));
  const shadowPhase = (p: string) => median(shadow.rows.map((r) => r.phaseS[p] ?? 0));
  const shadowTotal = median(shadow.rows.map((r) => r.totalS));
  err('');
  err(
    `Medians of ${done.length} runs (ours) vs SHADOW ${shadow.file}, configuration ${SHADOW.configuration}, msg_rate ${RATE}, ${shadow.rows.length} rows (runs ${shadow.rows.map((r) => r.run).join(',')}).`,
  );
  err('SHADOW columns → our phases: checkpoint_s → Checkpointing, transfer_s → Transferring, restore_s → Restoring,');
  err('replay_s → Replaying, finalize_s → Finalizing; SHADOW has no Pending column; total_time_s = sum of its phases.');
  const rows: (string | number)[][] = PHASES.map((p) => [
    p,
    ours(p).toFixed(3),
    p === 'Pending' ? '-' : shadowPhase(p).toFixed(3),
  ]);
  rows.push(['total', total.toFixed(3), shadowTotal.toFixed(3)]);
  err(table(['phase (s, median)', 'ms2m', 'SHADOW'], rows));
  const downtimeMax = maxOf(done.map((f) => f.result.downtime.maxDowntimeMs));
  err(
    `downtime max: ms2m ${downtimeMax} ms, SHADOW ${Math.max(...shadow.rows.map((r) => r.downtimeMs))} ms; longest stall (ms2m) ${maxOf(done.map((f) => f.result.downtime.maxLatencyMs))} ms; source frozen (slowest /healthz, 100 ms probe, 10 s timeout) median ${median(done.map((f) => f.freeze.longestMs))} ms, max ${maxOf(done.map((f) => f.freeze.longestMs))} ms, during the checkpoint in ${done.filter((f) => f.freezeInCheckpoint).length}/${done.length} runs`,
  );

  // where the time goes: the wait before each logged event, median over the runs
  const labels = [...new Set(done.flatMap((f) => [...f.waits.keys()]))];
  const waits = labels
    .map((l) => [l, median(done.map((f) => f.waits.get(l) ?? 0))] as const)
    .filter(([, ms]) => ms >= 1);
  err('');
  err('Where the time goes (median ms waited before each event, by the phase during the wait):');
  err(
    table(
      ['phase · event that ended the wait', 'ms'],
      waits.map(([l, ms]) => [l, ms.toFixed(0)]),
    ),
  );
  for (const f of failures) err(`failed: ${f.runId}: ${f.error}`);

  const ckpt = done.map((f) => f.checkpointBytes).filter((b): b is number => b !== null);
  const rss = done.map((f) => f.rssBytes).filter((b): b is number => b !== null);
  const out: Record<string, unknown> = {
    runs: RUNS,
    failed_runs: failures.length,
    total_s_median: s3(total),
    downtime_ms_max: downtimeMax,
    lost: done.reduce((a, f) => a + f.result.accounting.lost, 0),
    duplicated: done.reduce((a, f) => a + f.result.accounting.duplicated, 0),
    exactly_once_runs: done.filter((f) => f.result.accounting.exactlyOnce).length,
  };
  for (const p of PHASES) out[`${p.toLowerCase()}_s_median`] = s3(ours(p));
  Object.assign(out, {
    stall_ms_max: maxOf(done.map((f) => f.result.downtime.maxLatencyMs)),
    source_freeze_ms_median: s3(median(done.map((f) => f.freeze.longestMs))),
    source_freeze_ms_max: maxOf(done.map((f) => f.freeze.longestMs)),
    checkpoint_mib_median: ckpt.length ? s3(mib(median(ckpt))) : null,
    consumer_rss_mib_median: rss.length ? s3(mib(median(rss))) : null,
    rate: RATE,
    ballast_mib: BALLAST_MIB,
    delay_ms: DELAY_MS,
    shadow_reference: `${shadow.file} (${SHADOW.configuration}, ${RATE} msg/s, ${shadow.rows.length} runs)`,
    shadow_total_s_median: s3(shadowTotal),
  });
  for (const p of PHASES.slice(1)) out[`shadow_${p.toLowerCase()}_s_median`] = s3(shadowPhase(p));
  out.shadow_downtime_ms_max = Math.max(...shadow.rows.map((r) => r.downtimeMs));
  return out;
}
