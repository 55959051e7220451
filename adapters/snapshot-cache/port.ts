/**
 * A cache of folded snapshots, keyed like the log by `(kind, id)`. The log stays the truth: an entry is used
 * only when it was folded from exactly the events the log holds now (same last seq and time) by the same chart
 * (kind, machineVersion and fingerprint); anything else is folded again from the log. Finished instances never
 * change, so a restart with thousands of them in the log reads their snapshots instead of folding every event.
 *
 * @example
 * ```ts
 * const cache = await openFileSnapshotCache({ dir: '.ms2m/snapshots' });
 * const rebuilt = await rebuildAll(log, { charts: [migrationChart], cache });
 * ```
 */
export interface SnapshotCache {
  /** Entries for these instances of one kind, by id (missing ones are simply absent). */
  getMany(kind: string, ids: readonly string[]): Promise<Map<string, CachedSnapshot>>;
  put(entry: CachedSnapshot): Promise<void>;
}

export interface CachedSnapshot {
  kind: string;
  id: string;
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
