/**
 * Shared by the fakes of every port: a journal of effects with their idempotency keys (so tests can count
 * them) and scripted faults (so property tests can drive arbitrary adapter outcomes).
 */
import type { Clock } from './clock/port.ts';
import { ErrorCode, Ms2mError } from './errors.ts';

/**
 * What a fake does on one call:
 * - `ok`; `slow` (takes `ms` of clock time first);
 * - `transient` (fails before changing anything; a retry may succeed);
 * - `lostAck` (applies the change, then fails as if the answer was lost: the retry must be a no-op);
 * - `permanent` (fails for good).
 */
export type Outcome =
  | { kind: 'ok' }
  | { kind: 'slow'; ms: number }
  | { kind: 'transient' }
  | { kind: 'lostAck' }
  | { kind: 'permanent' };
export type FaultPlan = (op: string, key: string) => Outcome;
export const noFaults: FaultPlan = () => ({ kind: 'ok' });

export interface JournalEntry {
  op: string;
  key: string;
  object: string;
  /** true when the call changed the world; false for an idempotent no-op. */
  applied: boolean;
  at: number;
}

export class EffectJournal {
  readonly entries: JournalEntry[] = [];
  /** Called after every entry (the demo saves its world then). */
  onChange?: () => void;
  constructor(private readonly clock: Clock) {}

  add(op: string, key: string, object: string, applied: boolean): void {
    this.entries.push({ op, key, object, applied, at: this.clock.now() });
    this.onChange?.();
  }
  /** Applied entries of one op (optionally on one object). */
  applied(op: string, object?: string): JournalEntry[] {
    return this.entries.filter((e) => e.applied && e.op === op && (object === undefined || e.object === object));
  }
  /** Index of the first applied entry matching, or -1. */
  firstIndex(op: string, object?: string): number {
    return this.entries.findIndex((e) => e.applied && e.op === op && (object === undefined || e.object === object));
  }
}

export class InjectedFault extends Ms2mError {
  constructor(op: string, key: string, transient: boolean) {
    super(
      transient ? ErrorCode.INJECTED_TRANSIENT : ErrorCode.INJECTED_PERMANENT,
      `Injected ${transient ? 'transient' : 'permanent'} fault in ${op} (${key})`,
      {
        transient,
      },
    );
  }
}

/**
 * Runs one fake mutation under the fault plan: `apply` returns true when it changed the world.
 */
export async function faulty<T>(
  ctx: { clock: Clock; faults: FaultPlan; journal: EffectJournal },
  op: string,
  key: string,
  object: string,
  apply: () => { applied: boolean; value: T },
): Promise<T> {
  const outcome = ctx.faults(op, key);
  if (outcome.kind === 'slow') await ctx.clock.sleepUntil(ctx.clock.now() + outcome.ms);
  if (outcome.kind === 'transient') throw new InjectedFault(op, key, true);
  if (outcome.kind === 'permanent') throw new InjectedFault(op, key, false);
  const { applied, value } = apply();
  ctx.journal.add(op, key, object, applied);
  if (outcome.kind === 'lostAck') throw new InjectedFault(op, key, true);
  return value;
}
