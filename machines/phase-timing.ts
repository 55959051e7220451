/**
 * Phase timings and failure bookkeeping. Timings are exact milliseconds from event timestamps; the status
 * projection renders them as SHADOW's Go-duration strings.
 */
import type { FailureReason, MigrationContext } from './context.ts';
import type { MachineEvent } from './events.ts';
import { rejectionOf } from './guards.ts';
import type { ActivePhase } from './spec.ts';
import { closePhase } from './step-runtime.ts';

const isActive = (phase: MigrationContext['phase']): phase is ActivePhase =>
  phase !== 'Completed' && phase !== 'Failed';

function describe(event: MachineEvent, reason: FailureReason, ctx: MigrationContext): string {
  switch (event.type) {
    case 'StepFailed':
      return `Step ${event.data.step} failed in phase ${ctx.phase} (${event.data.code}): ${event.data.message}`;
    case 'DeadlineExceeded':
      return `Phase ${event.data.phase} exceeded its deadline of ${ctx.spec.phaseDeadlines[event.data.phase]}s: raise spec.phaseDeadlines.${event.data.phase} or check why it is slow`;
    case 'CancelRequested':
      return `Cancelled: ${event.data.reason}`;
    case 'ReplayDepthSampled':
      return reason === 'ReplayStalled'
        ? `Replay stalled: depth stayed at ${event.data.depth} for ${ctx.spec.drainStallSeconds}s; check that the target consumes ${ctx.replayQueue}`
        : `Replay did not drain within replayMaxSeconds=${ctx.spec.replayMaxSeconds}s (depth ${event.data.depth}); raise it or use replayMode Cutoff`;
    default:
      return `Failed in phase ${ctx.phase}`;
  }
}

/**
 * Records why the migration fails. The first failure is the reason; a failure during compensation keeps it and
 * only adds to the message.
 */
export function failWith(ctx: MigrationContext, event: MachineEvent, reason: FailureReason): Partial<MigrationContext> {
  if (ctx.failure) {
    return { message: `${ctx.failure.message}; compensation incomplete: ${describe(event, reason, ctx)}` };
  }
  const closed = isActive(ctx.phase) ? closePhase(ctx, event.at) : ctx;
  const phase = isActive(ctx.phase) ? ctx.phase : 'Pending';
  const message =
    event.type === 'SourceInspected' ? `Rejected: ${rejection(event, ctx)}` : describe(event, reason, ctx);
  return {
    ...closed,
    failure: {
      reason,
      phase,
      step: event.type === 'StepFailed' ? event.data.step : undefined,
      code: event.type === 'StepFailed' ? event.data.code : undefined,
      message,
    },
    cancelRequested:
      event.type === 'CancelRequested'
        ? { at: event.at, reason: event.data.reason, ignored: false }
        : ctx.cancelRequested,
    message,
  };
}

function rejection(event: Extract<MachineEvent, { type: 'SourceInspected' }>, ctx: MigrationContext): string {
  return rejectionOf(ctx, event.data) ?? 'source cannot be migrated';
}
