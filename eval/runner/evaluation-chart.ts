/**
 * The `EvaluationRun` chart: one measured run of an evaluation (`ms2m eval`) in the same event log as the
 * migrations it measured. A run's stream is `(EvaluationRun, <evalName>/<configuration>/<rate>/<repetition>)`
 * and holds one event, `RunMeasured`, appended once the run is over: the chart's initial state is final, so the
 * stream exists exactly when the run was measured (which is what a resumed eval asks). The analysis reads the
 * data of `RunMeasured` (the names below are its contract) and joins it to the migration's own stream through
 * `migration`.
 *
 *   RunMeasured -> Measured (final)
 *
 * It has no steps: the runner measures, the host only validates and appends (write-ahead, CAS on seq 0, so two
 * runners never both record the same run).
 */
import { setup } from 'xstate';
import { z } from 'zod';
import { defineChart, type RuntimeDeps } from '../../actors/chart.ts';
import { createHost, type HostDeps } from '../../actors/host.ts';
import type { RuntimeEventData } from '../../machines/chart.ts';

export const EVALUATION_RUN_KIND = 'EvaluationRun';

/**
 * The migration's terminal phase. A run whose migration reached none (or whose workload never came up) is not
 * measured: the runner cleans it up and runs it again.
 */
export const RUN_OUTCOMES = ['Completed', 'Failed'] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** The data of `RunMeasured`: the measurement of one run. */
export interface RunMeasurement {
  /** The migration this run made: its stream in the same log is `(kind, id)`, id `<namespace>/<name>/<uid>`. */
  migration: { kind: 'StatefulMigration'; id: string };
  configuration: string;
  /** Producer rate (messages per second). */
  msgRate: number;
  /** 1-based repetition of (configuration, rate). */
  repetition: number;
  /** Longest streak during which no consumer endpoint answered the 10 ms probe (ms; 0 = never down). */
  downtimeMs: number;
  /** Probes nobody answered. */
  downProbes: number;
  produced: number;
  /** Messages the consumer that is left has processed. */
  processed: number;
  /** Messages the migration replayed from the replay queue (status.progress.replayed). */
  replayed: number;
  /** Produced sequences the consumer that is left never processed. */
  lost: number;
  /** Sequences processed more than once. */
  duplicated: number;
  targetNode: string;
  sourceNode: string;
  outcome: RunOutcome;
  /** The migration's status.message when it did not complete. */
  reason?: string;
  /** Probes made in all. */
  probes: number;
  /** Consumer processing delay per message (ms). */
  processingDelayMs: number;
}

type RunEventData = RuntimeEventData<never, never> & { RunMeasured: RunMeasurement };
export type EvaluationRunEvent = {
  [K in keyof RunEventData]: { type: K; at: number; data: RunEventData[K] };
}[keyof RunEventData];

export interface EvaluationRunContext extends RunMeasurement {
  id: string;
  /** When the run was recorded (epoch ms). */
  measuredAt: number;
}

interface EvaluationRunInput {
  id: string;
  at: number;
  measurement: RunMeasurement;
}

/** The stream id of one run. */
export const runStreamId = (evalName: string, configuration: string, rate: number, repetition: number): string =>
  `${evalName}/${configuration}/${rate}/${repetition}`;

/** The parts of a run's stream id (null when `id` is not one). */
export function parseRunStreamId(
  id: string,
): { evalName: string; configuration: string; rate: number; repetition: number } | null {
  const parts = id.split('/');
  if (parts.length < 4) return null;
  const repetition = Number(parts.at(-1));
  const rate = Number(parts.at(-2));
  const configuration = parts.at(-3) as string;
  const evalName = parts.slice(0, -3).join('/');
  if (!evalName || !configuration || !Number.isInteger(repetition) || repetition < 1 || !(rate > 0)) return null;
  return { evalName, configuration, rate, repetition };
}

export const evaluationRunMachine = setup({
  types: {} as { context: EvaluationRunContext; events: EvaluationRunEvent; input: EvaluationRunInput },
}).createMachine({
  id: 'evaluationRun',
  context: ({ input }) => ({ ...input.measurement, id: input.id, measuredAt: input.at }),
  initial: 'Measured',
  states: { Measured: { type: 'final' } },
});

const nonNegative = z.number().int().nonnegative();
const measurementSchema = z.object({
  migration: z.object({ kind: z.literal('StatefulMigration'), id: z.string().min(1) }),
  configuration: z.string().min(1),
  msgRate: z.number().positive(),
  repetition: z.number().int().positive(),
  downtimeMs: nonNegative,
  downProbes: nonNegative,
  produced: nonNegative,
  processed: nonNegative,
  replayed: nonNegative,
  lost: nonNegative,
  duplicated: nonNegative,
  targetNode: z.string().min(1),
  sourceNode: z.string().min(1),
  outcome: z.enum(RUN_OUTCOMES),
  reason: z.string().optional(),
  probes: nonNegative,
  processingDelayMs: nonNegative,
});

export const evaluationRunChart = defineChart({
  kind: EVALUATION_RUN_KIND,
  version: 1,
  machine: evaluationRunMachine,
  steps: [] as const,
  initialEvent: 'RunMeasured' as const,
  input(id, first) {
    if (first.type !== 'RunMeasured') throw new Error(`Log of evaluation run ${id} starts with ${first.type}`);
    return { id, at: first.at, measurement: first.data };
  },
  phaseOf: (s) => String(s.value),
  terminalPhases: ['Measured'],
  effects: {},
  schemas: {
    RunMeasured: measurementSchema,
    // the runtime's own facts; a run never has a step, so they never occur
    StepFailed: z.object({
      step: z.never(),
      code: z.string(),
      message: z.string(),
      transient: z.boolean(),
      attempt: z.number().int().positive(),
    }),
    DeadlineExceeded: z.object({ phase: z.never() }),
    CancelRequested: z.object({ reason: z.string() }),
  },
  upcasters: {},
  module: { url: import.meta.url, name: 'evaluationRunChart' },
});

/** Opens the host of one run's stream: `host.request(measurement)` records it (once). */
export const EvaluationRunHost = createHost(evaluationRunChart);
export type EvaluationRunHostDeps = HostDeps<RuntimeDeps>;
