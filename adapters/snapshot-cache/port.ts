/**
 * A cache of folded snapshots. The log stays the truth: an entry is used only when it was folded from exactly
 * the events the log holds now (same last seq and time) by the same chart (machineVersion and fingerprint);
 * anything else is folded again from the log. Finished migrations never change, so a restart with thousands
 * of them in the log reads their snapshots instead of folding every event again.
 *
 * @example
 * ```ts
 * const cache = await openFileSnapshotCache({ dir: '.ms2m/snapshots' });
 * const migrations = await rebuildAll(log, { cache });
 * ```
 */
export interface SnapshotCache {
  /** Entries for these migrations (missing ones are simply absent). */
  getMany(migrationIds: readonly string[]): Promise<Map<string, CachedSnapshot>>;
  put(entry: CachedSnapshot): Promise<void>;
}

export interface CachedSnapshot {
  migrationId: string;
  /** Seq and time of the last event folded into it. */
  seq: number;
  lastAt: string;
  machineVersion: number;
  /** Fingerprint of the chart's definition that folded it. */
  chart: string;
  status: string;
  value: unknown;
  persisted: unknown;
}
