/** Validates and folds a batch of migrations (runs on a rebuild worker, or inline). */
import type { EventEnvelope } from '../machines/envelope.ts';
import { fold } from '../machines/fold.ts';
import { migrationMachine } from '../machines/migration.ts';
import { parseLog } from './event-schema.ts';
import type { RebuiltMigration } from './rebuild.ts';

export function rebuildBatch(batch: ReadonlyArray<readonly [string, EventEnvelope[]]>): RebuiltMigration[] {
  return batch.map(([migrationId, envelopes]) => {
    const snapshot = fold(migrationId, parseLog(envelopes, migrationId))!;
    const last = envelopes.at(-1)!;
    return {
      migrationId,
      lastSeq: last.seq,
      lastAt: last.at,
      status: snapshot.status,
      value: snapshot.value,
      persisted: migrationMachine.getPersistedSnapshot(snapshot),
    };
  });
}
