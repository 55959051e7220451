import type { CachedSnapshot, SnapshotCache } from './port.ts';

/**
 * In-memory snapshot cache (tests, and a process that only needs it for its own lifetime).
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
    async getMany(ids) {
      const out = new Map<string, CachedSnapshot>();
      for (const id of ids) {
        const e = entries.get(id);
        if (e) out.set(id, structuredClone(e));
      }
      return out;
    },
    async put(entry) {
      entries.set(entry.migrationId, structuredClone(entry));
    },
  };
}
