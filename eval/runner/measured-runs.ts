/**
 * What an evaluation has measured so far, read from the event log: a run is done exactly when its
 * `EvaluationRun` stream exists (it holds the run's `RunMeasured`). A resumed eval plans the rest from this,
 * and writes its results files from it, so they always agree with the log, whatever was killed when.
 */
import type { Logger } from 'pino';
import type { RuntimeDeps } from '../../actors/chart.ts';
import { parseLog } from '../../actors/event-schema.ts';
import type { Clock } from '../../adapters/clock/port.ts';
import type { EventLog, EventLogReader } from '../../adapters/event-log/port.ts';
import {
  EVALUATION_RUN_KIND,
  EvaluationRunHost,
  evaluationRunChart,
  parseRunStreamId,
  type RunMeasurement,
  runStreamId,
} from './evaluation-chart.ts';
import type { PlannedRun } from './matrix.ts';

/** One measured run as the log holds it. */
export interface MeasuredRun {
  /** The run's stream id, `<evalName>/<configuration>/<rate>/<repetition>`. */
  run: string;
  measurement: RunMeasurement;
  /** When it was recorded (ISO 8601, the event's `at`). */
  measuredAt: string;
}

/** The stream id of a planned run of eval `evalName`. */
export const streamIdOf = (evalName: string, run: PlannedRun): string =>
  runStreamId(evalName, run.configuration.name, run.rate, run.repetition);

/**
 * Every run of eval `evalName` the log holds, by stream id (other evals' runs, even `evalName/...` ones, are
 * left out). Each stream is validated against the chart.
 *
 * @example
 * ```ts
 * const measured = await readMeasuredRuns(log, 'eval-20261203');
 * measured.get('eval-20261203/pod-direct/4/1')?.measurement.downtimeMs;
 * ```
 */
export async function readMeasuredRuns(log: EventLogReader, evalName: string): Promise<Map<string, MeasuredRun>> {
  const out = new Map<string, MeasuredRun>();
  for (const key of await log.list(EVALUATION_RUN_KIND)) {
    if (parseRunStreamId(key.id)?.evalName !== evalName) continue;
    const envelopes = await log.read(key);
    const [first] = parseLog(evaluationRunChart, envelopes, key.id);
    if (first?.type !== 'RunMeasured') continue;
    out.set(key.id, { run: key.id, measurement: first.data, measuredAt: envelopes[0]?.at ?? '' });
  }
  return out;
}

/** Splits the matrix into the runs measured already and those still to do, both in run order. */
export function planRemaining(
  evalName: string,
  runs: readonly PlannedRun[],
  measured: ReadonlyMap<string, MeasuredRun>,
): { done: PlannedRun[]; todo: PlannedRun[] } {
  const done: PlannedRun[] = [];
  const todo: PlannedRun[] = [];
  for (const r of runs) (measured.has(streamIdOf(evalName, r)) ? done : todo).push(r);
  return { done, todo };
}

/**
 * Records one run through the chart's host (validated, appended once: a run recorded already is left as it
 * is) and returns what the log now holds for it.
 */
export async function recordRun(
  deps: { log: EventLog; clock: Clock; logger: Logger },
  id: string,
  measurement: RunMeasurement,
): Promise<MeasuredRun> {
  const runtime: RuntimeDeps & { log: EventLog } = { clock: deps.clock, logger: deps.logger, log: deps.log };
  const host = await EvaluationRunHost.open({ id, deps: runtime });
  if (!host.snapshot()) await host.request(measurement);
  await host.done();
  const [env] = await deps.log.read({ kind: EVALUATION_RUN_KIND, id });
  if (!env) throw new Error(`EvaluationRun ${id}: recorded, but the log does not return it`);
  return { run: id, measurement: env.data as RunMeasurement, measuredAt: env.at };
}
