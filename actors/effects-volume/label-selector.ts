/**
 * Kubernetes label selector semantics (matchLabels AND every matchExpression), for PodDisruptionBudgets: an
 * empty selector selects every pod (policy/v1).
 *
 * @example
 * ```ts
 * selects({ matchLabels: { app: 'db' } }, { app: 'db', tier: 'x' }); // true
 * ```
 */
import type { LabelSelector } from '../../adapters/volumes/port.ts';

export function selects(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
