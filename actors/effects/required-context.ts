/**
 * Context an effect cannot run without. The chart only starts a step once the facts it depends on are in the
 * log, so a missing value means a log that skipped a fact (edited, or folded by another chart version): the step
 * fails with MISSING_CONTEXT, naming the migration, the field and the phase, and the chart compensates.
 */
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import type { MigrationContext } from '../../machines/context.ts';

/** The migration's context is missing a value a step needs. Not transient: retrying reads the same log. */
export class MissingContextError extends Ms2mError {
  constructor(ctx: MigrationContext, field: string) {
    super(
      ErrorCode.MISSING_CONTEXT,
      `Migration ${ctx.migrationId}: ${field} is not known at ${ctx.phase}; the event that records it is missing from the log (check the log with \`ms2m timeline\`; a log written by another chart version needs an upcaster)`,
      { details: { migrationId: ctx.migrationId, field, phase: ctx.phase } },
    );
  }
}

/**
 * `ctx[field]`, or a MissingContextError when it is unset.
 *
 * @example
 * ```ts
 * const target = need(ctx, 'targetPod'); // string
 * ```
 */
export function need<K extends keyof MigrationContext>(
  ctx: MigrationContext,
  field: K,
): NonNullable<MigrationContext[K]> {
  return required(ctx, field, ctx[field]);
}

/**
 * A nested or derived value, or a MissingContextError naming `field` when it is unset.
 *
 * @example
 * ```ts
 * const deployment = required(ctx, 'source.owner.deploymentName', need(ctx, 'source').owner.deploymentName);
 * ```
 */
export function required<T>(ctx: MigrationContext, field: string, value: T): NonNullable<T> {
  if (value === undefined || value === null) throw new MissingContextError(ctx, field);
  return value as NonNullable<T>;
}
