/**
 * Phase timings and failure bookkeeping of the VolumeResize chart: the first failure is the reason; the message
 * always ends with where the data is (volume-resize-recovery.ts).
 */

import { closePhase } from './step-runtime.ts';
import type { VolumeResizeContext, VrFailureReason } from './volume-resize-context.ts';
import type { VrEvent } from './volume-resize-events.ts';
import { recoveryInstructions } from './volume-resize-recovery.ts';
import type { VrActivePhase } from './volume-resize-spec.ts';
import type { ValidationFailure } from './volume-resize-validation.ts';

export const isActiveVrPhase = (phase: VolumeResizeContext['phase']): phase is VrActivePhase =>
  phase !== 'Completed' && phase !== 'Failed';

function describe(event: VrEvent, ctx: VolumeResizeContext): string {
  switch (event.type) {
    case 'StepFailed':
      return `Step ${event.data.step} failed in phase ${ctx.phase} (${event.data.code}): ${event.data.message}`;
    case 'DeadlineExceeded':
      return `Phase ${event.data.phase} exceeded its deadline of ${ctx.spec.phaseDeadlines[event.data.phase]}s: check why it is slow (a claim not binding, a pod not starting, a large copy)`;
    case 'CancelRequested':
      return `Cancelled: ${event.data.reason}`;
    default:
      return `Failed in phase ${ctx.phase}`;
  }
}

/** Records why the resize fails (the first failure); a later one only adds to the message. */
export function vrFailWith(
  ctx: VolumeResizeContext,
  event: VrEvent,
  reason: VrFailureReason,
  validation?: ValidationFailure,
): Partial<VolumeResizeContext> {
  const what = validation ? validation.message : describe(event, ctx);
  if (ctx.failure) return { message: `${ctx.failure.message}; then: ${what}` };
  const closed = closePhase(ctx, event.at);
  const phase = isActiveVrPhase(ctx.phase) ? ctx.phase : 'Pending';
  return {
    ...closed,
    failure: {
      reason,
      phase,
      step: event.type === 'StepFailed' ? event.data.step : undefined,
      code: event.type === 'StepFailed' ? event.data.code : undefined,
      check: validation?.check,
      message: what,
    },
    cancelRequested:
      event.type === 'CancelRequested' ? { at: event.at, reason: event.data.reason } : ctx.cancelRequested,
    message: validation ? `${what}; nothing was changed` : `${what}; rolling back`,
  };
}

/** The final message after rollback: the failure, what rollback did, what is left, and where the data is. */
export function rolledBackMessage(ctx: VolumeResizeContext): string {
  const r = ctx.rollback;
  const parts = [ctx.failure?.message ?? 'Failed'];
  if (r && r.actions.length > 0) parts.push(`Rolled back: ${r.actions.join('; ')}`);
  else parts.push('Nothing had been changed');
  if (r && r.leftovers.length > 0) parts.push(`Left for you: ${r.leftovers.join('; ')}`);
  const data = recoveryInstructions(ctx);
  return `${parts.join('. ')}.${data ? ` ${data}` : ''}`;
}
