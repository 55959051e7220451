/**
 * Event logs for the UI tests: golden logs (test/golden) written into an embedded file log under new ids, whole
 * (finished) or cut after n events (a migration still running: its log is a prefix of a finished one's).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { type EventEnvelope, upcastEnvelope } from '../../machines/envelope.ts';

const GOLDEN = join(import.meta.dirname, '../golden');

/** The envelopes of golden log `name` (e.g. `shadowpod-direct`), in the current envelope format. */
export function golden(name: string): EventEnvelope[] {
  return readFileSync(join(GOLDEN, `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => upcastEnvelope(JSON.parse(l)) as EventEnvelope);
}

/** Appends `events` (from seq `from`, 1-based, through `to`) to stream `kind`/`id` of `log`, as a writer would. */
export async function appendAs(
  log: EventLog,
  id: string,
  events: readonly EventEnvelope[],
  from = 1,
  to = events.length,
  kind = 'StatefulMigration',
) {
  const key = { kind, id };
  for (const e of events.slice(from - 1, to)) {
    await log.append(key, { type: e.type, at: e.at, machineVersion: e.machineVersion, data: e.data }, e.seq - 1);
  }
}
