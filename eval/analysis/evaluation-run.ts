/**
 * The evaluation runner's measurements as the analysis reads them: streams of kind `EvaluationRun` in the same
 * log (eval/runner/evaluation-chart.ts), whose `RunMeasured` event names the migration it measured. Each event is
 * validated by that chart's own schema.
 */
import { parseEvent } from '../../actors/event-schema.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';
import { EVALUATION_RUN_KIND, evaluationRunChart, type RunMeasurement } from '../runner/evaluation-chart.ts';
import type { MessageAccounting } from './types.ts';

export { EVALUATION_RUN_KIND, type RunMeasurement };
export const RUN_MEASURED = 'RunMeasured';

/** A run's measurement joined to its migration. */
export interface MeasuredRun {
  migrationId: string;
  configuration: string;
  msgRate: number;
  repetition: number;
  downtimeMs: number;
  downProbes: number;
  accounting: MessageAccounting;
}

/**
 * Reads one EvaluationRun event: the measurement for a RunMeasured, null for any other type. Throws
 * CorruptEventError naming the stream and seq when it does not validate.
 *
 * @example
 * ```ts
 * const m = measuredRun(env); // { migrationId: 'default/smig-1/uid', configuration: 'statefulset-shadowpod', ... }
 * ```
 */
export function measuredRun(env: EventEnvelope): MeasuredRun | null {
  if (env.type !== RUN_MEASURED) return null;
  const ev = parseEvent(evaluationRunChart, env, env.id, env.seq);
  if (ev.type !== 'RunMeasured') return null;
  const d = ev.data;
  return {
    migrationId: d.migration.id,
    configuration: d.configuration,
    msgRate: d.msgRate,
    repetition: d.repetition,
    downtimeMs: d.downtimeMs,
    downProbes: d.downProbes,
    accounting: {
      produced: d.produced,
      processed: d.processed,
      replayed: d.replayed,
      lost: d.lost,
      duplicated: d.duplicated,
      sourceNode: d.sourceNode,
      targetNode: d.targetNode,
      probes: d.probes,
      processingDelayMs: d.processingDelayMs,
    },
  };
}
