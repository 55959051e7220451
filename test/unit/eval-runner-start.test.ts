import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../adapters/clock/system.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import type { RunMeasurement } from '../../eval/runner/evaluation-chart.ts';
import { parseConfigurations } from '../../eval/runner/matrix.ts';
import { recordRun } from '../../eval/runner/measured-runs.ts';
import {
  type EvalCommandOptions,
  EvalParametersChangedError,
  evalTagOf,
  startEvaluation,
} from '../../eval/runner/start.ts';
import { TargetOptionError } from '../../eval/runner/target.ts';
import { treeState } from '../support/tree-state.ts';

const root = mkdtempSync(join(tmpdir(), 'ms2m-eval-start-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const logger = pino({ level: 'silent' });

// a cluster nobody listens on: these cases must fail or finish before reaching it
const kubeconfig = join(root, 'kubeconfig');
writeFileSync(
  kubeconfig,
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server: 'https://127.0.0.1:9' } }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'u' } }],
    'current-context': 'lab',
  }),
);

function options(dir: string, o: Partial<EvalCommandOptions> = {}): EvalCommandOptions {
  return {
    name: 'e1',
    configurations: parseConfigurations('pod-direct,deployment-registry'),
    rates: [4, 10],
    repetitions: 1,
    cutoff: { kind: 'computed' },
    processingDelayMs: 50,
    seconds: 30,
    warmupSeconds: 3,
    migrationTimeoutMs: 300_000,
    attempts: 2,
    keepGoing: false,
    outDir: join(dir, 'out'),
    namespace: 'ms2m-eval',
    nodes: ['node-a', 'node-b'],
    target: {
      kubeconfig,
      log: join(dir, 'log'),
      image: 'reg.lab/ms2m/workloads:1',
      amqpUrl: 'amqp://u:p@rabbit.lab:5672',
      rabbitmqManagement: 'http://u:p@rabbit.lab:15672',
      checkpointRepository: 'reg.lab/ckpt',
    },
    dryRun: false,
    ...o,
  };
}

function io() {
  const chunks = { stdout: [] as string[], stderr: [] as string[] };
  const sink = (into: string[]) =>
    ({
      write(s: string) {
        into.push(s);
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  return {
    stdout: sink(chunks.stdout),
    stderr: sink(chunks.stderr),
    out: () => chunks.stdout.join(''),
    err: () => chunks.stderr.join(''),
  };
}

const measurement = (configuration: string, rate: number): RunMeasurement => ({
  migration: { kind: 'StatefulMigration', id: `ms2m-eval/mig-x/uid` },
  configuration,
  msgRate: rate,
  repetition: 1,
  downtimeMs: 0,
  downProbes: 0,
  produced: 120,
  processed: 120,
  replayed: 4,
  lost: 0,
  duplicated: 0,
  targetNode: 'node-b',
  sourceNode: 'node-a',
  outcome: 'Completed',
  probes: 500,
  processingDelayMs: 50,
});

describe('startEvaluation', () => {
  it('a dry run lists the runs still to do with their nodes, reading the log without changing it', async () => {
    const dir = mkdtempSync(join(root, 'dry-'));
    const logDir = join(dir, 'log');
    mkdirSync(logDir);
    const log = await openFileLog({ dir: logDir, logger });
    await recordRun({ log, clock: systemClock(), logger }, 'e1/pod-direct/4/1', measurement('pod-direct', 4));
    await log.close();
    const before = await treeState(logDir);
    const o = io();
    expect(await startEvaluation(options(dir, { dryRun: true }), o, logger)).toBeNull();
    const tag = evalTagOf('e1');
    expect(o.out().trim().split('\n')).toEqual([
      'eval e1: 4 runs, 1 measured, 3 to do',
      `  ${tag}-dr-4-1  deployment-registry @ 4 msg/s #1: node-b -> node-a`,
      `  ${tag}-pd-10-1  pod-direct @ 10 msg/s #1: node-a -> node-b`,
      `  ${tag}-dr-10-1  deployment-registry @ 10 msg/s #1: node-b -> node-a`,
    ]);
    expect(await treeState(logDir)).toEqual(before);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('refuses to resume an eval with other run parameters, naming the ones it was started with', async () => {
    const dir = mkdtempSync(join(root, 'params-'));
    mkdirSync(join(dir, 'out'));
    writeFileSync(
      join(dir, 'out', 'eval.json'),
      JSON.stringify({
        name: 'e1',
        namespace: 'ms2m-eval',
        processingDelayMs: 50,
        cutoff: { kind: 'seconds', seconds: 4 },
        seconds: 30,
        warmupSeconds: 3,
      }),
    );
    const err = await startEvaluation(options(dir, { processingDelayMs: 20 }), io(), logger).catch((e: Error) => e);
    expect(err).toBeInstanceOf(EvalParametersChangedError);
    expect((err as Error).message).toMatch(
      /^eval e1 was started with --processing-delay-ms 50, --cutoff 4 \(.*eval\.json\): resume it with the same values/,
    );
  });

  it('on a cluster that is not the local one, names the option that is missing', async () => {
    const dir = mkdtempSync(join(root, 'target-'));
    const base = options(dir);
    const { amqpUrl: _a, ...noAmqp } = base.target;
    await expect(startEvaluation({ ...base, target: noAmqp }, io(), logger)).rejects.toThrow(
      new TargetOptionError(
        `the cluster of ${kubeconfig} is not the local cluster: pass --amqp-url (the broker as pods reach it)`,
      ),
    );
    const { log: _l, ...noLog } = base.target;
    await expect(startEvaluation({ ...base, target: noLog }, io(), logger)).rejects.toThrow(
      /pass --nats URL or --log DIR/,
    );
    const { checkpointRepository: _c, ...noRepo } = base.target;
    await expect(startEvaluation({ ...base, target: noRepo }, io(), logger)).rejects.toThrow(
      /a Registry configuration is in the matrix: pass --checkpoint-repository/,
    );
  });
});
