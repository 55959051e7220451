import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../adapters/clock/system.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { belongsToRun } from '../../eval/runner/broker-leftovers.ts';
import { EVALUATION_RUN_KIND, type RunMeasurement } from '../../eval/runner/evaluation-chart.ts';
import {
  DEFAULT_CONFIGURATIONS,
  expandMatrix,
  MatrixError,
  type PlannedRun,
  parseConfigurations,
  parseRates,
  runIdOf,
} from '../../eval/runner/matrix.ts';
import { readMeasuredRuns } from '../../eval/runner/measured-runs.ts';
import { Eta, formatDuration } from '../../eval/runner/progress.ts';
import { CSV_COLUMNS } from '../../eval/runner/results-files.ts';
import {
  type EvalProgress,
  EvaluationStoppedError,
  type RunExecutor,
  type RunLabels,
  runEvaluation,
} from '../../eval/runner/runner.ts';

const root = mkdtempSync(join(tmpdir(), 'ms2m-eval-runner-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const outDir = () => join(root, `out-${++dirs}`);
const nodes = ['node-a', 'node-b'] as const;

describe('matrix', () => {
  it('is configurations × rates × repetitions, repetition outermost, then rate, then configuration', () => {
    const configurations = parseConfigurations('pod-direct,deployment-registry');
    const runs = expandMatrix({ configurations, rates: [1, 4, 7], repetitions: 2, nodes });
    expect(runs).toHaveLength(2 * 3 * 2);
    expect(runs.map((r) => `${r.repetition}/${r.rate}/${r.configuration.name}`).slice(0, 7)).toEqual([
      '1/1/pod-direct',
      '1/1/deployment-registry',
      '1/4/pod-direct',
      '1/4/deployment-registry',
      '1/7/pod-direct',
      '1/7/deployment-registry',
      '2/1/pod-direct',
    ]);
    expect(runs.map((r) => r.index)).toEqual([...runs.keys()]);
  });

  it('alternates the target node run by run, by the index in the full matrix, source and target always differ', () => {
    const runs = expandMatrix({
      configurations: parseConfigurations('pod-direct'),
      rates: [1, 4, 7],
      repetitions: 3,
      nodes,
    });
    for (const r of runs) {
      expect(r.targetNode).toBe(r.index % 2 === 0 ? 'node-b' : 'node-a');
      expect(r.sourceNode).not.toBe(r.targetNode);
    }
    // every cell is migrated both ways over its repetitions (3 rates: a cell's runs are 3 apart, odd)
    const cell = runs.filter((r) => r.rate === 4).map((r) => r.targetNode);
    expect(cell).toEqual(['node-a', 'node-b', 'node-a']);
  });

  it('the default configurations are the ones the operator runs; statefulset-shadowpod is refused with the reason', () => {
    expect(DEFAULT_CONFIGURATIONS).toEqual([
      'statefulset-sequential',
      'deployment-registry',
      'deployment-direct',
      'pod-direct',
    ]);
    expect(() => parseConfigurations('statefulset-shadowpod')).toThrow(/identity swap/);
    expect(() => parseConfigurations('pod-direct,pod-direkt')).toThrow(MatrixError);
    expect(() => parseConfigurations('pod-direct,pod-direct')).toThrow(/listed twice/);
  });

  it('parses rates and refuses what is not a rate', () => {
    expect(parseRates('1, 4,0.5')).toEqual([1, 4, 0.5]);
    for (const bad of ['', '0', '-1', 'x', '4,4']) expect(() => parseRates(bad)).toThrow(MatrixError);
    expect(() =>
      expandMatrix({ configurations: parseConfigurations('pod-direct'), rates: [1], repetitions: 0, nodes }),
    ).toThrow(/repetitions/);
  });

  it('gives each run a distinct DNS-safe id whose queues never match another run (…-1 vs …-10)', () => {
    const runs = expandMatrix({
      configurations: parseConfigurations(DEFAULT_CONFIGURATIONS.join(',')),
      rates: [1, 0.5, 10],
      repetitions: 11,
      nodes,
    });
    const ids = runs.map((r) => runIdOf('e1a2b3c', r));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(belongsToRun('q-e1a2b3c-pd-1-1', 'e1a2b3c-pd-1-1')).toBe(true);
    expect(belongsToRun('q-e1a2b3c-pd-1-1.ms2m-replay', 'e1a2b3c-pd-1-1')).toBe(true);
    expect(belongsToRun('ms2m.control.consumer-e1a2b3c-dd-1-1-5f7c9d-abcde', 'e1a2b3c-dd-1-1')).toBe(true);
    expect(belongsToRun('q-e1a2b3c-pd-1-10', 'e1a2b3c-pd-1-1')).toBe(false);
    expect(belongsToRun('ms2m.control.consumer-e1a2b3c-pd-1-10', 'e1a2b3c-pd-1-1')).toBe(false);
  });
});

/** The cluster as the runner sees it: objects a run leaves until cleaned, and failures to inject. */
class FakeCluster implements RunExecutor {
  readonly leftovers = new Set<string>();
  readonly executed: { run: PlannedRun; runId: string; labels: RunLabels }[] = [];
  readonly cleaned: string[] = [];
  /** runId -> failures still to inject (Infinity: always). */
  readonly failures = new Map<string, number>();
  /** Throws this (a "kill") when the run with this runId starts, after deploying. */
  killAt: string | null = null;

  async sweep() {
    const ids = [...this.leftovers].sort();
    for (const id of ids) await this.cleanup(id);
    return ids;
  }

  async cleanup(runId: string) {
    this.leftovers.delete(runId);
    this.cleaned.push(runId);
  }

  async execute(run: PlannedRun, runId: string, labels: RunLabels, onPhase: (p: string) => void) {
    // a run starts from a clean slate, or it would measure the leftovers of an earlier attempt
    expect(this.leftovers.size).toBe(0);
    this.leftovers.add(runId);
    this.executed.push({ run, runId, labels });
    if (this.killAt === runId) throw new Error('killed');
    const left = this.failures.get(runId) ?? 0;
    if (left > 0) {
      this.failures.set(runId, left - 1);
      throw new Error(`injected failure of ${runId}`);
    }
    onPhase('Completed');
    const m: RunMeasurement = {
      migration: { kind: 'StatefulMigration', id: `ms2m-eval/mig-${runId}/uid-${this.executed.length}` },
      configuration: run.configuration.name,
      msgRate: run.rate,
      repetition: run.repetition,
      downtimeMs: run.configuration.strategy === 'Sequential' ? 900 : 0,
      downProbes: 0,
      produced: Math.round(run.rate * 10),
      processed: Math.round(run.rate * 10),
      replayed: 3,
      lost: 0,
      duplicated: 0,
      targetNode: run.targetNode,
      sourceNode: run.sourceNode,
      outcome: 'Completed',
      probes: 100,
      processingDelayMs: 50,
    };
    return m;
  }
}

function recordingProgress(): EvalProgress & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    start: (o) => lines.push(`start ${o.done}/${o.total} todo ${o.todo}`),
    note: (l) => lines.push(`note ${l}`),
    runStarted: (r, a) => lines.push(`started ${r.index} attempt ${a}`),
    phase: () => {},
    runMeasured: (r) => lines.push(`measured ${r.index}`),
    runFailed: (r, a, _e, again) => lines.push(`failed ${r.index} attempt ${a}${again ? ' again' : ''}`),
    stop: () => lines.push('stop'),
  };
}

function setup(o: { attempts?: number; keepGoing?: boolean } = {}) {
  const log = createMemoryEventLog();
  const runs = expandMatrix({
    configurations: parseConfigurations('pod-direct,statefulset-sequential'),
    rates: [1, 4],
    repetitions: 2,
    nodes,
  });
  const out = outDir();
  const start = (executor: RunExecutor, progress = recordingProgress()) =>
    runEvaluation(
      {
        name: 'e1',
        runs,
        runIdOf: (r) => runIdOf('etag', r),
        outDir: out,
        attempts: o.attempts ?? 1,
        keepGoing: o.keepGoing ?? false,
      },
      { log, clock: systemClock(), logger: pino({ level: 'silent' }), executor, progress },
    );
  return { log, runs, out, start };
}

const jsonl = (dir: string) =>
  readFileSync(join(dir, 'runs.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { run: string; targetNode: string });

describe('runEvaluation', () => {
  it('runs the whole matrix, records one RunMeasured per run with the run labels, and writes the results in run order', async () => {
    const s = setup();
    const cluster = new FakeCluster();
    const summary = await s.start(cluster);
    expect(summary).toMatchObject({ total: 8, alreadyMeasured: 0, measuredNow: 8, failed: [], interrupted: false });
    expect(cluster.executed.map((e) => e.run.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(cluster.executed[3]?.labels).toEqual({
      'ms2m.io/eval-run': 'e1',
      'ms2m.io/eval-configuration': 'statefulset-sequential',
      'ms2m.io/eval-rate': '4',
      'ms2m.io/eval-repetition': '1',
    });
    expect(cluster.leftovers.size).toBe(0);
    const keys = await s.log.list(EVALUATION_RUN_KIND);
    expect(keys).toHaveLength(8);
    for (const k of keys) expect((await s.log.read(k)).map((e) => e.type)).toEqual(['RunMeasured']);
    const rows = jsonl(s.out);
    expect(rows.map((r) => r.run)).toEqual(s.runs.map((r) => `e1/${r.configuration.name}/${r.rate}/${r.repetition}`));
    expect(rows.map((r) => r.targetNode)).toEqual(s.runs.map((r) => r.targetNode));
    const csv = readFileSync(join(s.out, 'runs.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe(CSV_COLUMNS.join(','));
    expect(csv).toHaveLength(9);
  });

  it('resumes after a kill: the half-done run is cleaned up and run again, measured runs are not, nodes stay the same', async () => {
    const s = setup();
    const first = new FakeCluster();
    first.killAt = runIdOf('etag', s.runs[3]!);
    await expect(s.start(first)).rejects.toBeInstanceOf(EvaluationStoppedError);
    expect((await readMeasuredRuns(s.log, 'e1')).size).toBe(3);
    expect(jsonl(s.out)).toHaveLength(3);

    // the killed process cleaned nothing up: its leftovers are still on the cluster
    const second = new FakeCluster();
    second.leftovers.add(first.killAt);
    const progress = recordingProgress();
    const summary = await s.start(second, progress);
    expect(summary).toMatchObject({ alreadyMeasured: 3, measuredNow: 5, swept: [first.killAt] });
    expect(progress.lines[0]).toBe('start 3/8 todo 5');
    expect(second.executed.map((e) => e.run.index)).toEqual([3, 4, 5, 6, 7]);
    // the same nodes as the full matrix says, whatever was measured before
    expect(second.executed.map((e) => e.run.targetNode)).toEqual(s.runs.slice(3).map((r) => r.targetNode));
    expect(jsonl(s.out).map((r) => r.run)).toEqual(
      s.runs.map((r) => `e1/${r.configuration.name}/${r.rate}/${r.repetition}`),
    );

    // a third start has nothing to do, and writes the results again from the log
    rmSync(join(s.out, 'runs.jsonl'));
    const third = new FakeCluster();
    expect(await s.start(third)).toMatchObject({ alreadyMeasured: 8, measuredNow: 0 });
    expect(third.executed).toEqual([]);
    expect(jsonl(s.out)).toHaveLength(8);
  });

  it('tries a failing run again after cleaning it up, and records it once', async () => {
    const s = setup({ attempts: 3 });
    const cluster = new FakeCluster();
    const id = runIdOf('etag', s.runs[1]!);
    cluster.failures.set(id, 2);
    const progress = recordingProgress();
    await s.start(cluster, progress);
    expect(cluster.executed.filter((e) => e.runId === id)).toHaveLength(3);
    expect(progress.lines).toContain('failed 1 attempt 1 again');
    expect(progress.lines).toContain('failed 1 attempt 2 again');
    expect(progress.lines).toContain('measured 1');
    expect(await s.log.read({ kind: EVALUATION_RUN_KIND, id: 'e1/statefulset-sequential/1/1' })).toHaveLength(1);
  });

  it('stops at a run that fails every attempt, or skips it with keepGoing (unmeasured: the next start tries it)', async () => {
    const stopping = setup({ attempts: 2 });
    const c1 = new FakeCluster();
    c1.failures.set(runIdOf('etag', stopping.runs[2]!), Number.POSITIVE_INFINITY);
    const err = await stopping.start(c1).catch((e: Error) => e);
    expect(err).toBeInstanceOf(EvaluationStoppedError);
    expect((err as Error).message).toMatch(/run e1\/pod-direct\/4\/1 failed 2 time\(s\).*run the same command again/);
    expect(c1.leftovers.size).toBe(0);

    const going = setup({ attempts: 2, keepGoing: true });
    const c2 = new FakeCluster();
    c2.failures.set(runIdOf('etag', going.runs[2]!), Number.POSITIVE_INFINITY);
    const summary = await going.start(c2);
    expect(summary.failed).toEqual([{ run: 'e1/pod-direct/4/1', error: 'injected failure of etag-pd-4-1' }]);
    expect(summary.measuredNow).toBe(7);
    const c3 = new FakeCluster();
    expect(await going.start(c3)).toMatchObject({ alreadyMeasured: 7, measuredNow: 1 });
    expect(c3.executed.map((e) => e.run.index)).toEqual([2]);
  });

  it('stops between runs when aborted', async () => {
    const s = setup();
    const abort = new AbortController();
    const cluster = new FakeCluster();
    const execute = cluster.execute.bind(cluster);
    cluster.execute = async (...args) => {
      const m = await execute(...args);
      if (cluster.executed.length === 2) abort.abort();
      return m;
    };
    const summary = await runEvaluation(
      {
        name: 'e1',
        runs: s.runs,
        runIdOf: (r) => runIdOf('etag', r),
        outDir: s.out,
        attempts: 1,
        keepGoing: false,
        signal: abort.signal,
      },
      {
        log: s.log,
        clock: systemClock(),
        logger: pino({ level: 'silent' }),
        executor: cluster,
        progress: recordingProgress(),
      },
    );
    expect(summary).toMatchObject({ measuredNow: 2, interrupted: true });
  });
});

describe('ETA', () => {
  it('is the mean run time so far times the runs left', () => {
    const eta = new Eta(4);
    expect(eta.text).toBe('?');
    eta.runFinished(60_000);
    eta.runFinished(120_000);
    expect(eta.remainingMs).toBe(180_000);
    expect(eta.text).toBe('3m 00s');
    eta.runDropped();
    expect(eta.remainingMs).toBe(90_000);
    expect(formatDuration(3 * 3600_000 + 5 * 60_000)).toBe('3h 05m');
  });
});
