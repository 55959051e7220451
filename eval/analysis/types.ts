/**
 * What the analysis works on: one {@link MigrationRecord} per migration (ours, folded from the event log, or a row
 * of SHADOW's published CSVs), and one {@link AggregateRow} per source × configuration × message rate.
 * Durations are exact milliseconds; `null` means "not known" (a phase never ended, no downtime measurement).
 */

/** Where a record comes from: our event log, or SHADOW's evaluation CSVs (eval/reference/shadow-eval). */
export type RecordSource = 'ms2m' | 'shadow';

/** SHADOW's five timed phases, in its CSV's column order. */
export const SHADOW_PHASES = ['checkpoint', 'transfer', 'restore', 'replay', 'finalize'] as const;
export type ShadowPhase = (typeof SHADOW_PHASES)[number];
/** Our phases: SHADOW's five plus Pending (inspecting the source), which SHADOW does not time. */
export const PHASE_KEYS = ['pending', ...SHADOW_PHASES] as const;
export type PhaseKey = (typeof PHASE_KEYS)[number];

/** The message accounting the evaluation runner appends for one run (EvaluationRun stream, event RunMeasured). */
export interface MessageAccounting {
  produced: number;
  processed: number;
  replayed: number;
  lost: number;
  duplicated: number;
  sourceNode: string;
  targetNode: string;
  /** Downtime probes made in all. */
  probes: number;
  /** The consumer's processing delay per message, ms. */
  processingDelayMs: number;
}

/** One migration, everything the CSV, the aggregates and the charts need. */
export interface MigrationRecord {
  source: RecordSource;
  /** SHADOW's `run`: the row's number in its file; ours: the position in the analysed set (by request time). */
  run: number;
  /** Stream id in the log (`namespace/name/uid`); SHADOW rows: `<file>#<run>`. */
  migration: string;
  namespace: string | null;
  name: string | null;
  /** The resource's metadata.labels when it was requested (MigrationRequested.labels). */
  labels: Record<string, string>;
  /** Evaluation configuration (label `ms2m.io/eval-configuration`, the run's measurement, or derived). */
  configuration: string | null;
  /** Producer message rate in msg/s (label `ms2m.io/eval-rate` or the run's measurement). */
  msgRate: number | null;
  /** The evaluation run (label `ms2m.io/eval-run`) and repetition (`ms2m.io/eval-repetition`). */
  evalRun: string | null;
  repetition: number | null;
  /** ISO time of MigrationRequested; null for SHADOW rows. */
  requestedAt: string | null;
  /** ISO time of the terminal state (Completed or Failed). */
  finishedAt: string | null;
  strategy: 'ShadowPod' | 'Sequential' | null;
  transferMode: 'Registry' | 'Direct' | null;
  replayMode: 'Cutoff' | 'Drain' | null;
  /** Completed, Failed, or the phase a migration still in progress is in. */
  status: string;
  /** Why it failed (FailureReason: StepFailed, DeadlineExceeded, Cancelled, ...) and the message. */
  reason: string | null;
  failedPhase: string | null;
  message: string | null;
  /** Milliseconds per phase; null when the phase never ended. */
  phases: Record<PhaseKey, number | null>;
  /** SHADOW's total: the sum of its five phases (checkpoint..finalize), ms. */
  totalMs: number | null;
  /** Request to terminal state, ms (includes Pending and retries). */
  wallMs: number | null;
  bytesTransferred: number | null;
  checkpointBytes: number | null;
  /** Messages replayed, as the log's depth samples count them (decreases of the replay queue's depth). */
  replayed: number | null;
  /** The source was stopped because the replay cutoff was reached (not because the target caught up). */
  cutoffTaken: boolean | null;
  cutoffSeconds: number | null;
  /** Replay queue depth over time: ms since the replay started, depth. */
  depth: Array<{ offsetMs: number; depth: number }>;
  /** Longest unavailable streak and its failed probes (the evaluation runner's 10 ms probe); null: not measured. */
  downtimeMs: number | null;
  downProbes: number | null;
  /** The evaluation runner's message accounting of this migration, null when there is none. */
  accounting: MessageAccounting | null;
  /** Events in the migration's log (0 for SHADOW rows). */
  events: number;
}

/** Which migrations to analyse. Every given condition must hold. */
export interface RecordFilters {
  /** Requested at or after (ISO time or epoch ms). */
  since?: string | number;
  /** Requested before. */
  until?: string | number;
  /** Label selector: every `key=value` must match the resource's labels. */
  labels?: Record<string, string>;
  configuration?: string;
}

/** Distribution of one metric over the completed runs of a group (type-7 quantiles, like numpy's default). */
export interface Stat {
  n: number;
  median: number;
  q1: number;
  q3: number;
  iqr: number;
  p95: number;
}

export const AGGREGATE_METRICS = ['total', ...PHASE_KEYS, 'downtime'] as const;
export type AggregateMetric = (typeof AGGREGATE_METRICS)[number];

/** One source × configuration × rate: counts, and per metric (ms) its distribution over the completed runs. */
export interface AggregateRow {
  source: RecordSource;
  configuration: string;
  msgRate: number | null;
  runs: number;
  completed: number;
  failed: number;
  /** null when no completed run has a value for the metric. */
  stats: Record<AggregateMetric, Stat | null>;
}
