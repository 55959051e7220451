/**
 * The differential check of the compiled fold (machines/compiled-fold.ts) against xstate's fold (machines/fold.ts,
 * the reference): one log folded through both side by side, compared after every event on everything a snapshot
 * carries: status, state value, context (deep and strict: undefined members, prototypes), the persisted snapshot
 * (deep, and as JSON text, so key order too) including each child's src and input; and where the reference
 * throws, the compiled fold must throw at the same event. At the end, the compiled fold's materialized xstate
 * snapshot must persist to the same as the reference's.
 */
import { isDeepStrictEqual } from 'node:util';
import type { AnyChartCore, ChartEvent } from '../../machines/chart.ts';
import { CompiledFold } from '../../machines/compiled-fold.ts';
import { Fold } from '../../machines/fold.ts';

export interface FoldDifference {
  /** Events folded when they differed (1 = only the first). */
  prefix: number;
  what: string;
  reference: unknown;
  compiled: unknown;
}

const attempt = <T>(f: () => T): { ok: true; value: T } | { ok: false; error: unknown } => {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
};

/**
 * The first prefix of `events` at which the compiled fold differs from xstate's, or null when they agree at every
 * prefix.
 *
 * @example
 * ```ts
 * expect(firstDifference(migrationCore, id, parseLog(migrationChart, envelopes, id))).toBeNull();
 * ```
 */
export function firstDifference(chart: AnyChartCore, id: string, events: readonly ChartEvent[]): FoldDifference | null {
  const [first, ...rest] = events;
  if (!first) return null;
  const machine = chart.machine;
  const ref = attempt(() => new Fold(chart, id, first));
  const fast = attempt(() => new CompiledFold(chart, id, first));
  if (!ref.ok || !fast.ok) {
    return ref.ok === fast.ok
      ? null
      : {
          prefix: 1,
          what: 'throws',
          reference: ref.ok ? 'no error' : ref.error,
          compiled: fast.ok ? 'no error' : fast.error,
        };
  }
  const r = ref.value;
  const f = fast.value;
  const compare = (prefix: number): FoldDifference | null => {
    const s = r.snapshot;
    const persisted = machine.getPersistedSnapshot(s);
    const fp = f.persisted();
    const pairs: Array<[string, unknown, unknown]> = [
      ['status', s.status, f.status],
      ['value', s.value, f.value],
      ['context', s.context, f.context],
      ['persisted', persisted, fp],
      ['persisted JSON', JSON.stringify(persisted), JSON.stringify(fp)],
    ];
    for (const [what, reference, compiled] of pairs) {
      if (!isDeepStrictEqual(reference, compiled)) return { prefix, what, reference, compiled };
    }
    return null;
  };
  let diff = compare(1);
  for (let i = 0; i < rest.length && !diff; i++) {
    const ev = rest[i]!;
    const rs = attempt(() => r.apply(ev));
    const fs = attempt(() => f.apply(ev));
    if (!rs.ok || !fs.ok) {
      // after a throw both folds are spent: the reference's snapshot is where it was, the compiled one's is not
      if (rs.ok === fs.ok) return null;
      return {
        prefix: i + 2,
        what: 'throws',
        reference: rs.ok ? 'no error' : rs.error,
        compiled: fs.ok ? 'no error' : fs.error,
      };
    }
    diff = compare(i + 2);
  }
  if (diff) return diff;
  const materialized = machine.getPersistedSnapshot(f.snapshot);
  const persisted = machine.getPersistedSnapshot(r.snapshot);
  if (!isDeepStrictEqual(persisted, materialized)) {
    return { prefix: events.length, what: 'materialized snapshot', reference: persisted, compiled: materialized };
  }
  return null;
}
