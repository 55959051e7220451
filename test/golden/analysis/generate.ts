/**
 * Generates the analysis golden log set (run once; the output is committed): 17 real migrations folded by the
 * real host against the fake world with SHADOW-like latencies on virtual time, four configurations at two
 * rates, two repetitions each, one failed checkpoint and one run that takes the replay cutoff, each labelled as
 * the evaluation runner labels its resources, plus one EvaluationRun stream per migration with a RunMeasured
 * event (downtime and message accounting), all copied into an embedded file log at `log/`.
 *
 * It also writes the expected CSV and aggregate (review their diff: the golden test compares against them exactly).
 * A log written before kinds and labels existed (../shadowpod-direct.jsonl, legacy layout) is copied in beside them.
 *
 * Usage: npx tsx test/golden/analysis/generate.ts
 */
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MigrationHost, type MigrationHostDeps } from '../../../actors/charts/migration.ts';
import { parseFact } from '../../../actors/event-schema.ts';
import { normalizeSpec } from '../../../actors/migration-spec.ts';
import { virtualClock } from '../../../adapters/clock/fake.ts';
import type { FaultPlan } from '../../../adapters/effect-journal.ts';
import { createMemoryEventLog } from '../../../adapters/event-log/fake.ts';
import { openFileLog } from '../../../adapters/file-log/file-log.ts';
import { openFileLogReader } from '../../../adapters/file-log/file-log-reader.ts';
import { legacyFileNameOf } from '../../../adapters/file-log/jsonl.ts';
import {
  aggregate,
  aggregateCsv,
  EVAL_LABELS,
  EVALUATION_RUN_KIND,
  RUN_MEASURED,
  type RunMeasurement,
  readRecords,
  toShadowCsv,
} from '../../../eval/analysis/index.ts';
import { evaluationRunChart } from '../../../eval/runner/evaluation-chart.ts';
import { MIGRATION_KIND } from '../../../machines/migration-chart.ts';
import { createFakeWorld, SOURCE_NODE, TARGET_NODE } from '../../support/fake-world.ts';
import { scriptedFaults } from '../../support/faults.ts';
import { silent } from '../../support/scenario.ts';

export const LOG_DIR = join(import.meta.dirname, 'log');
export const EXPECTED_CSV = join(import.meta.dirname, 'expected.csv');
export const EXPECTED_AGGREGATE = join(import.meta.dirname, 'expected-aggregate.csv');
const T0 = Date.parse('2026-03-16T09:00:00.000Z');
const CONFIGS = {
  'statefulset-sequential': { workload: 'statefulset', spec: { migrationStrategy: 'Sequential' } },
  'deployment-registry': {
    workload: 'deployment',
    spec: { transferMode: 'Registry', checkpointImageRepository: 'registry.local/ms2m/checkpoints' },
  },
  'deployment-direct': { workload: 'deployment', spec: { transferMode: 'Direct' } },
  'pod-direct': { workload: 'pod', spec: { transferMode: 'Direct' } },
} as const;

interface Run {
  configuration: keyof typeof CONFIGS;
  rate: number;
  repetition: number;
  evalRun: string;
  faults?: FaultPlan;
  cutoffSeconds?: number;
  consumerRate?: number;
}

const runs: Run[] = [];
for (const configuration of Object.keys(CONFIGS) as Array<keyof typeof CONFIGS>) {
  for (const rate of [4, 10])
    for (const repetition of [1, 2]) runs.push({ configuration, rate, repetition, evalRun: 'golden' });
}
// a checkpoint that fails for good: Failed with its reason, nothing measured downtime-wise beyond the probe
runs.push({
  configuration: 'pod-direct',
  rate: 10,
  repetition: 3,
  evalRun: 'golden',
  faults: scriptedFaults([{ op: 'checkpoint', nth: 1, outcome: { kind: 'permanent' } }]),
});
// another evaluation run: a consumer barely faster than the producer and a 1 s cutoff, so the cutoff is taken
runs.push({
  configuration: 'deployment-direct',
  rate: 19,
  repetition: 1,
  evalRun: 'cutoff',
  cutoffSeconds: 1,
  consumerRate: 20,
});

async function main(): Promise<void> {
  await rm(LOG_DIR, { recursive: true, force: true });
  await mkdir(LOG_DIR, { recursive: true });
  const out = await openFileLog({ dir: LOG_DIR, logger: silent });
  for (const [i, run] of runs.entries()) {
    const clock = virtualClock(T0 + i * 300_000);
    const world = createFakeWorld({
      clock,
      latencies: 'realistic',
      faults: run.faults,
      producerRate: run.rate,
      consumerRate: run.consumerRate ?? 25 + 10 * run.repetition,
    });
    const config = CONFIGS[run.configuration];
    const sourcePod = world.seed(config.workload);
    const name = `smig-${String(i + 1).padStart(2, '0')}`;
    const uid = `00000000-0000-4000-8000-0000000000${String(i + 1).padStart(2, '0')}`;
    const spec = normalizeSpec(
      { namespace: 'default', name, uid },
      {
        sourcePod,
        targetNode: TARGET_NODE,
        messageQueueConfig: { queueName: 'orders', brokerUrl: 'amqp://rabbitmq.local:5672', exchangeName: 'orders' },
        ...config.spec,
        ...(run.cutoffSeconds === undefined ? {} : { replayCutoffSeconds: run.cutoffSeconds }),
      },
      { maxAttempts: 3, retryBaseMs: 200 },
    );
    const log = createMemoryEventLog();
    const id = `default/${name}/${uid}`;
    const deps: MigrationHostDeps = {
      cluster: world.cluster,
      kubelet: world.kubelet,
      broker: world.broker,
      agents: world.agents,
      clock,
      logger: silent,
      pollMs: 250,
      sampleHeartbeatMs: 1000,
      log,
    };
    const host = await MigrationHost.open({ id, deps });
    const labels = {
      app: 'consumer',
      [EVAL_LABELS.configuration]: run.configuration,
      [EVAL_LABELS.rate]: String(run.rate),
      [EVAL_LABELS.repetition]: String(run.repetition),
      [EVAL_LABELS.run]: run.evalRun,
    };
    await host.request({ spec, labels });
    const final = await host.done();
    const key = { kind: MIGRATION_KIND, id };
    const events = await log.read(key);
    for (const e of events) {
      await out.append(key, { type: e.type, at: e.at, machineVersion: e.machineVersion, data: e.data }, e.seq - 1);
    }
    // the runner's measurement (eval/runner appends it after the terminal phase): Sequential stops the consumer
    // for the restore, ShadowPod never stops it; the accounting is the broker's
    const sequential = run.configuration === 'statefulset-sequential';
    const restoring = final.context.phaseTimings.Restoring ?? 0;
    const downtimeMs = sequential ? restoring + 120 + run.rate : 0;
    const replayed = final.context.progress.replayed;
    const produced = 600 + run.rate * 10 + run.repetition;
    const measured: RunMeasurement = {
      migration: { kind: MIGRATION_KIND, id },
      configuration: run.configuration,
      msgRate: run.rate,
      repetition: run.repetition,
      downtimeMs,
      downProbes: Math.floor(downtimeMs / 10),
      produced,
      processed: produced,
      replayed,
      lost: 0,
      duplicated: 0,
      targetNode: TARGET_NODE,
      sourceNode: SOURCE_NODE,
      outcome: final.value === 'Completed' ? 'Completed' : 'Failed',
      ...(final.value === 'Completed' ? {} : { reason: final.context.message }),
      probes: Math.floor((final.context.completionTime! - final.context.startTime) / 10) + 50,
      processingDelayMs: 10,
    };
    const runKey = {
      kind: EVALUATION_RUN_KIND,
      id: `${run.evalRun}/${run.configuration}/${run.rate}/${run.repetition}`,
    };
    const at = new Date(final.context.completionTime ?? clock.now()).toISOString();
    const fact = parseFact(evaluationRunChart, { type: RUN_MEASURED, data: measured }, runKey, 1);
    await out.append(runKey, { type: fact.type, at, machineVersion: evaluationRunChart.version, data: fact.data }, 0);
    process.stdout.write(`${id}: ${String(final.value)} (${events.length} events)\n`);
  }
  await out.close();
  // a migration logged before kinds and labels existed (legacy file name and envelopes): read as it is
  await copyFile(
    join(import.meta.dirname, '..', 'shadowpod-direct.jsonl'),
    join(LOG_DIR, legacyFileNameOf('default/m1')),
  );
  // the expected analysis (review the diff before committing: the golden test compares against these exactly)
  const reader = await openFileLogReader({ dir: LOG_DIR, logger: silent });
  const records = await readRecords(reader);
  await reader.close();
  await writeFile(EXPECTED_CSV, toShadowCsv(records));
  await writeFile(EXPECTED_AGGREGATE, aggregateCsv(aggregate(records)));
}

if (process.argv[1] === import.meta.filename) await main();
