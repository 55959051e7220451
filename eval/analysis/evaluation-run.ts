/**
 * The evaluation runner's measurements as the analysis reads them: streams of kind `EvaluationRun` in the same
 * log, whose `RunMeasured` events name the migration they measured. Only the fields the analysis uses are
 * checked; other event types of those streams are skipped.
 */
import { z } from 'zod';
import { CorruptEventError } from '../../adapters/event-log/port.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';
import type { MessageAccounting } from './types.ts';

export const EVALUATION_RUN_KIND = 'EvaluationRun';
export const RUN_MEASURED = 'RunMeasured';

const count = z.number().int().nonnegative();

/** `RunMeasured.data` (eval/runner): what the runner measured around one migration. */
export const runMeasuredSchema = z.object({
  migration: z.object({ kind: z.literal('StatefulMigration'), id: z.string().min(1) }),
  configuration: z.string().min(1),
  msgRate: z.number().nonnegative(),
  repetition: z.number().int().nonnegative(),
  downtimeMs: z.number().nonnegative(),
  downProbes: count,
  produced: count,
  processed: count,
  replayed: count,
  lost: count,
  duplicated: count,
  targetNode: z.string(),
});
export type RunMeasured = z.infer<typeof runMeasuredSchema>;

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
 * Reads one EvaluationRun event: the measurement for a RunMeasured, null for any other type.
 * Throws CorruptEventError naming the stream and seq when a RunMeasured does not have the expected shape.
 *
 * @example
 * ```ts
 * const m = measuredRun(env); // { migrationId: 'eval/smig-1/uid', configuration: 'statefulset-shadowpod', ... }
 * ```
 */
export function measuredRun(env: EventEnvelope): MeasuredRun | null {
  if (env.type !== RUN_MEASURED) return null;
  const parsed = runMeasuredSchema.safeParse(env.data);
  if (!parsed.success) {
    throw new CorruptEventError(
      { kind: env.kind, id: env.id },
      env.seq,
      `RunMeasured has invalid data: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const d = parsed.data;
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
      targetNode: d.targetNode,
    },
  };
}
