/**
 * `ms2m demo`: the main job. Brings up the real local cluster (two kubelets on containerd + runc + CRIU, RabbitMQ,
 * NATS, the registry, the operator as a Deployment), deploys a producer and a consumer at 10 msg/s on node-a,
 * migrates the live consumer to node-b (ShadowPod, Direct transfer by default) with live progress, prints the
 * phase timings, checks the accounting (every produced sequence processed exactly once; the consumer's counter
 * continued across the restore), writes the timeline and the figures to `<dir>/<run>/`, and takes the cluster
 * down again unless `--keep`.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { goDuration } from '../actors/go-duration.ts';
import { formatRow, timeline } from '../actors/timeline.ts';
import { openEventLog } from '../adapters/event-log/open.ts';
import { writeFileAtomicSync } from '../adapters/file-log/atomic-file.ts';
import { clusterDown, clusterStatus, clusterUp } from '../cluster/local/cluster.ts';
import { buildClusterImages } from '../cluster/local/images.ts';
import { ENDPOINTS } from '../cluster/local/topology.ts';
import type { MigrationProgress } from '../eval/migration-run.ts';
import { cleanupScenario, runScenario, type ScenarioResult } from '../eval/scenario.ts';

export interface DemoOptions {
  /** Where each run's timeline and figures go (a new folder per run). */
  dir: string;
  keep: boolean;
  transferMode: 'Direct' | 'Registry';
  rate: number;
  /** Seconds of production in all (the migration starts after ~3 s). */
  seconds: number;
  out: (line: string) => void;
  err: (line: string) => void;
}

const mib = (b?: number) => (b === undefined ? '-' : `${(b / 2 ** 20).toFixed(1)} MiB`);

function progressLine(p: MigrationProgress): string {
  const parts = [`+${(p.elapsedMs / 1000).toFixed(1)}s`.padStart(7), p.phase.padEnd(13)];
  if (p.bytesTotal) parts.push(`transferred ${mib(p.bytesTransferred)} / ${mib(p.bytesTotal)}`);
  if (p.replayDepth !== undefined && (p.phase === 'Replaying' || p.phase === 'Finalizing'))
    parts.push(`replay depth ${p.replayDepth}`);
  if (p.message) parts.push(`· ${p.message}`);
  return parts.join('  ');
}

/** Reads the migration's events back from the cluster's JetStream log (read only) and formats the timeline. */
async function readTimeline(namespace: string, name: string): Promise<string[]> {
  const log = await openEventLog({ kind: 'nats', servers: ENDPOINTS.nats }, pino({ level: 'warn' }));
  try {
    const keys = (await log.list('StatefulMigration')).filter((k) => k.id.startsWith(`${namespace}/${name}/`));
    const key = keys.at(-1);
    if (!key) return [`(no events of ${namespace}/${name} in the log)`];
    return timeline(await log.read(key)).rows.map(formatRow);
  } finally {
    await log.close();
  }
}

function report(r: ScenarioResult): string[] {
  const lines = ['', 'Phase timings (status.phaseTimings):'];
  for (const [phase, s] of Object.entries(r.migration.phaseSeconds)) {
    if (phase !== 'Total') lines.push(`  ${phase.padEnd(14)} ${goDuration(s * 1000)}`);
  }
  lines.push(`  ${'total'.padEnd(14)} ${goDuration(r.migration.totalSeconds * 1000)}`);
  const a = r.accounting;
  lines.push(
    '',
    'Accounting:',
    `  produced ${a.produced}, processed ${a.processed}, lost ${a.lost}, duplicated ${a.duplicated} (redeliveries skipped by sequence: ${a.redeliveriesSkipped})`,
    `  every sequence 1..${a.produced} processed exactly once: ${a.exactlyOnce ? 'yes' : 'NO'}`,
    `  counter continued across the restore: ${a.continued ? 'yes' : 'NO'} (${r.before.processed} processed on ${r.sourcePod} before the checkpoint; ${r.finalPod} restored ${r.after.restores}x, reconnected ${r.after.connects - 1}x)`,
    '',
    'Service (10 ms probe of the consumer):',
    `  downtime ${r.downtime.maxDowntimeMs} ms (${r.downtime.failedProbes} of ${r.downtime.probes} probes unanswered); longest stall ${r.downtime.maxLatencyMs} ms (the source frozen while CRIU dumps it)`,
  );
  return lines;
}

/** Runs the demo; returns the exit code (0 when the migration completed with nothing lost). */
export async function demo(o: DemoOptions): Promise<number> {
  const runId = `demo${Date.now().toString(36)}`;
  const namespace = 'ms2m-demo';
  const wasUp = (await clusterStatus()).apiserver === 'ready';
  o.out(`ms2m demo ${runId}: live migration of a RabbitMQ consumer between two real kubelets (CRIU)`);
  const info = await clusterUp({ buildImages: buildClusterImages, log: (l) => o.err(`cluster: ${l}`) });
  const kc = new KubeConfig();
  kc.loadFromFile(info.kubeconfig);
  let result: ScenarioResult | undefined;
  let code = 1;
  try {
    o.out(`deploying producer (${o.rate} msg/s) and consumer on node-a in namespace ${namespace}`);
    result = await runScenario({
      kc,
      image: info.images.workloads,
      amqpUrl: ENDPOINTS.amqp,
      namespace,
      runId,
      workload: 'pod',
      sourceNode: 'node-a',
      targetNode: 'node-b',
      spec: {
        migrationStrategy: 'ShadowPod',
        transferMode: o.transferMode,
        ...(o.transferMode === 'Registry'
          ? { checkpointImageRepository: `${ENDPOINTS.registryOnNodes}/ms2m/checkpoints` }
          : {}),
      },
      rate: o.rate,
      messages: o.rate * o.seconds,
      log: o.out,
      onProgress: (p) => o.out(progressLine(p)),
    });
    for (const line of report(result)) o.out(line);
    const tl = await readTimeline(namespace, `mig-${runId}`);
    const runDir = resolve(o.dir, runId);
    await mkdir(runDir, { recursive: true });
    writeFileAtomicSync(join(runDir, 'timeline.txt'), `${tl.join('\n')}\n`);
    writeFileAtomicSync(
      join(runDir, 'result.json'),
      `${JSON.stringify({ runId, phaseSeconds: result.migration.phaseSeconds, accounting: result.accounting, downtime: result.downtime, status: result.migration.status }, null, 2)}\n`,
    );
    for (const line of ['', 'Timeline (from the event log in NATS JetStream):', ...tl.map((l) => `  ${l}`), ''])
      o.out(line);
    o.out(`timeline and figures: ${runDir}/{timeline.txt,result.json}`);
    const ok = result.accounting.lost === 0 && result.accounting.exactlyOnce && result.accounting.continued;
    o.out(
      ok
        ? 'Migration completed: nothing lost, nothing processed twice, state continued.'
        : 'Migration completed, but the accounting failed: see above.',
    );
    code = ok ? 0 : 1;
  } finally {
    if (o.keep) {
      o.out(`--keep: the cluster stays up: export KUBECONFIG=${info.kubeconfig}; ${info.kubectl} get pods -A -o wide`);
    } else {
      await cleanupScenario(kc, namespace, runId);
      if (!wasUp) {
        const left = await clusterDown({ log: (l) => o.err(`cluster: ${l}`) });
        if (left.length) code = 1;
      } else o.out('the cluster was up before the demo: left up (ms2m cluster down stops it)');
    }
  }
  return code;
}
