/**
 * `ms2m eval`'s loop, apart from the cluster (the executor) and the screen (the progress): reads what the event
 * log says is measured, runs the rest of the matrix in order, records each run's `RunMeasured` through the
 * EvaluationRun chart's host, and rewrites the results files after each. Resumable by construction: a killed
 * eval left either a recorded run (skipped next time) or an unrecorded one, whose leftovers the sweep before
 * every run removes, so it is run again from scratch.
 *
 *   measured = log's EvaluationRun streams of this eval -> todo = matrix - measured
 *   for run in todo: sweep leftovers -> execute (deploy, migrate, probe, account) -> record -> results -> cleanup
 *   a run that throws is cleaned up and tried again (attempts); then the eval stops (or skips it: keepGoing)
 */
import type { Logger } from 'pino';
import type { Clock } from '../../adapters/clock/port.ts';
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import type { RunMeasurement } from './evaluation-chart.ts';
import type { PlannedRun } from './matrix.ts';
import { type MeasuredRun, planRemaining, readMeasuredRuns, recordRun, streamIdOf } from './measured-runs.ts';
import { writeResults } from './results-files.ts';

/** The labels of a run's StatefulMigration (and its workload's pods). */
export interface RunLabels {
  'ms2m.io/eval-run': string;
  'ms2m.io/eval-configuration': string;
  'ms2m.io/eval-rate': string;
  'ms2m.io/eval-repetition': string;
}

/** What runs a run: the cluster (cluster-executor.ts) or a fake in tests. */
export interface RunExecutor {
  /** Removes everything any earlier attempt of this eval left behind; returns the run ids it cleaned. */
  sweep(): Promise<string[]>;
  /** Deploys, migrates, probes and accounts one run. */
  execute(run: PlannedRun, runId: string, labels: RunLabels, onPhase: (phase: string) => void): Promise<RunMeasurement>;
  /** Removes what run `runId` made. */
  cleanup(runId: string): Promise<void>;
}

/** What the loop tells the user (progress.ts: a bar on a TTY, lines otherwise). */
export interface EvalProgress {
  start(o: { name: string; total: number; done: number; todo: number }): void;
  note(line: string): void;
  runStarted(run: PlannedRun, attempt: number): void;
  phase(run: PlannedRun, phase: string): void;
  runMeasured(run: PlannedRun, m: RunMeasurement, ms: number): void;
  runFailed(run: PlannedRun, attempt: number, err: Error, again: boolean): void;
  stop(): void;
}

export interface EvaluationOptions {
  name: string;
  /** The full matrix in run order (matrix.ts `expandMatrix`). */
  runs: readonly PlannedRun[];
  runIdOf: (run: PlannedRun) => string;
  /** Where runs.jsonl and runs.csv go. */
  outDir: string;
  /** Tries per run before the eval stops (or skips it). */
  attempts: number;
  /** Skip a run that failed every attempt and go on (it stays unmeasured: the next start tries it again). */
  keepGoing: boolean;
  /** Stop between runs when aborted (Ctrl-C): the run in progress ends first. */
  signal?: AbortSignal;
}

export interface EvaluationDeps {
  log: EventLog;
  clock: Clock;
  logger: Logger;
  executor: RunExecutor;
  progress: EvalProgress;
}

export interface EvaluationSummary {
  total: number;
  /** Measured before this start. */
  alreadyMeasured: number;
  /** Measured by this start. */
  measuredNow: number;
  /** Runs that failed every attempt (keepGoing). */
  failed: { run: string; error: string }[];
  /** Run ids of leftovers the sweeps removed. */
  swept: string[];
  /** Stopped by the signal before the matrix was done. */
  interrupted: boolean;
}

/** A run failed every attempt: the eval stopped; starting it again resumes from there. */
export class EvaluationStoppedError extends Ms2mError {
  constructor(run: string, attempts: number, cause: Error) {
    super(
      ErrorCode.UNAVAILABLE,
      `run ${run} failed ${attempts} time(s), last: ${cause.message}; the eval stopped there: run the same command again to resume (or pass --keep-going to skip failing runs)`,
      { cause },
    );
  }
}

export const labelsOf = (name: string, run: PlannedRun): RunLabels => ({
  'ms2m.io/eval-run': name,
  'ms2m.io/eval-configuration': run.configuration.name,
  'ms2m.io/eval-rate': String(run.rate),
  'ms2m.io/eval-repetition': String(run.repetition),
});

/** Results in matrix order, then runs of this eval outside the current matrix (an earlier, larger matrix). */
function ordered(name: string, runs: readonly PlannedRun[], measured: ReadonlyMap<string, MeasuredRun>): MeasuredRun[] {
  const inMatrix = runs.map((r) => measured.get(streamIdOf(name, r))).filter((m): m is MeasuredRun => !!m);
  const ids = new Set(inMatrix.map((m) => m.run));
  const others = [...measured.values()].filter((m) => !ids.has(m.run)).sort((a, b) => (a.run < b.run ? -1 : 1));
  return [...inMatrix, ...others];
}

/**
 * Runs (the rest of) an evaluation.
 *
 * @example
 * ```ts
 * const summary = await runEvaluation(
 *   { name: 'e1', runs: expandMatrix({ ... }), runIdOf: (r) => runIdOf('e3f9a1c', r), outDir, attempts: 2, keepGoing: false },
 *   { log, clock, logger, executor: clusterExecutor({ ... }), progress: lineProgress(process.stderr) },
 * );
 * ```
 */
export async function runEvaluation(o: EvaluationOptions, deps: EvaluationDeps): Promise<EvaluationSummary> {
  const { executor, progress } = deps;
  const measured = await readMeasuredRuns(deps.log, o.name);
  const { done, todo } = planRemaining(o.name, o.runs, measured);
  await writeResults(o.outDir, ordered(o.name, o.runs, measured));
  const summary: EvaluationSummary = {
    total: o.runs.length,
    alreadyMeasured: done.length,
    measuredNow: 0,
    failed: [],
    swept: [],
    interrupted: false,
  };
  progress.start({ name: o.name, total: o.runs.length, done: done.length, todo: todo.length });
  try {
    for (const run of todo) {
      if (o.signal?.aborted) {
        summary.interrupted = true;
        break;
      }
      const id = streamIdOf(o.name, run);
      const runId = o.runIdOf(run);
      // a run's time, for the ETA, is all it takes: sweep, attempts, cleanup
      const t0 = deps.clock.now();
      for (let attempt = 1; ; attempt++) {
        const swept = await executor.sweep();
        if (swept.length) {
          summary.swept.push(...swept);
          progress.note(`removed what earlier attempts left: ${swept.join(', ')}`);
        }
        progress.runStarted(run, attempt);
        try {
          const m = await executor.execute(run, runId, labelsOf(o.name, run), (p) => progress.phase(run, p));
          const rec = await recordRun(deps, id, m);
          measured.set(id, rec);
          summary.measuredNow++;
          await writeResults(o.outDir, ordered(o.name, o.runs, measured));
          // free the nodes now; if this fails the next sweep tries again
          await executor.cleanup(runId).catch((err: Error) => progress.note(`cleanup of ${runId}: ${err.message}`));
          progress.runMeasured(run, rec.measurement, deps.clock.now() - t0);
          break;
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          const again = attempt < o.attempts;
          progress.runFailed(run, attempt, e, again);
          deps.logger.warn({ run: id, runId, attempt, err: e.message }, 'Evaluation run failed');
          if (again) continue;
          await executor.cleanup(runId).catch((c: Error) => progress.note(`cleanup of ${runId}: ${c.message}`));
          if (!o.keepGoing) throw new EvaluationStoppedError(id, o.attempts, e);
          summary.failed.push({ run: id, error: e.message });
          break;
        }
      }
    }
  } finally {
    progress.stop();
  }
  return summary;
}
