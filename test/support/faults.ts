import type { FaultPlan, Outcome } from '../../adapters/effect-journal.ts';

export interface FaultRule {
  op: string;
  /** 1-based call number of that op the rule hits. */
  nth: number;
  outcome: Outcome;
}

/** A fault plan from rules: the nth call of an op gets the rule's outcome, every other call succeeds. */
export function scriptedFaults(rules: readonly FaultRule[]): FaultPlan & { calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const plan: FaultPlan = (op) => {
    const n = (calls.get(op) ?? 0) + 1;
    calls.set(op, n);
    return rules.find((r) => r.op === op && r.nth === n)?.outcome ?? { kind: 'ok' };
  };
  return Object.assign(plan, { calls });
}
