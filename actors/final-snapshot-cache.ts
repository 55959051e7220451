/**
 * A finished instance's final snapshot, put into the snapshot cache by its host so that a rebuild (rebuild.ts)
 * need not fold its events again. A cache miss only costs a fold later: a failing cache is logged, never a
 * failure of the instance.
 */
import type { Logger } from 'pino';
import { toMs2mError } from '../adapters/errors.ts';
import type { SnapshotCache } from '../adapters/snapshot-cache/port.ts';
import type { SnapshotOf } from '../machines/chart.ts';
import type { EventEnvelope, StreamKey } from '../machines/envelope.ts';
import type { AnyChart } from './chart.ts';
import { toCacheEntry } from './rebuild.ts';

/**
 * Caches `snapshot`, the state of stream `key` of `chart` after its last event `env` (no cache: nothing to do).
 *
 * @example
 * ```ts
 * if (snapshot.status === 'done') await cacheFinalSnapshot(chart, deps, key, env, snapshot);
 * ```
 */
export async function cacheFinalSnapshot<C extends AnyChart>(
  chart: C,
  deps: { snapshots?: SnapshotCache; logger: Logger },
  key: StreamKey,
  env: EventEnvelope,
  snapshot: SnapshotOf<C>,
): Promise<void> {
  if (!deps.snapshots) return;
  try {
    await deps.snapshots.put(
      toCacheEntry(chart, {
        ...key,
        lastSeq: env.seq,
        lastAt: env.at,
        status: snapshot.status,
        value: snapshot.value,
        persisted: chart.machine.getPersistedSnapshot(snapshot),
      }),
    );
  } catch (err) {
    deps.logger.warn(
      { kind: key.kind, id: key.id, err: toMs2mError(err).message },
      'Could not cache the final snapshot',
    );
  }
}
