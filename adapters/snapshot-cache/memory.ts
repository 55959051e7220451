import { keyText } from '../../machines/envelope.ts';
import type { CachedSnapshot, SnapshotCache } from './port.ts';

/**
 * In-memory snapshot cache (tests, and a process that only needs it for its own lifetime). `entries` is keyed
 * by `<kind> <id>`.
 *
 * @example
 * ```ts
 * const cache = createMemorySnapshotCache();
 * ```
 */
export function createMemorySnapshotCache(): SnapshotCache & { entries: Map<string, CachedSnapshot> } {
  const entries = new Map<string, CachedSnapshot>();
  return {
    entries,
    async getMany(kind, ids) {
      const out = new Map<string, CachedSnapshot>();
      for (const id of ids) {
        const e = entries.get(keyText({ kind, id }));
        if (e) out.set(id, structuredClone(e));
      }
      return out;
    },
    async put(entry) {
      entries.set(keyText(entry), structuredClone(entry));
    },
  };
}
