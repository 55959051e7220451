import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MigrationHost, migrationChart } from '../../actors/charts/migration.ts';
import { parseEvent, parseLog } from '../../actors/event-schema.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { CorruptEventError } from '../../adapters/event-log/port.ts';
import { scenario } from '../support/scenario.ts';

const golden = readFileSync(join(import.meta.dirname, '../golden/sequential.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const id = golden[0].migrationId as string;

function corruptAt(seq: number, change: (e: Record<string, unknown>) => void) {
  const copy = structuredClone(golden);
  change(copy[seq - 1]);
  return copy;
}

describe('every event read from a log is validated', () => {
  it('accepts a real log', () => {
    expect(parseLog(migrationChart, golden, id)).toHaveLength(golden.length);
  });

  it.each([
    [
      'unknown type',
      3,
      (e: Record<string, unknown>) => (e.type = 'CheckpointTeleported'),
      /seq 3: unknown event type 'CheckpointTeleported'/,
    ],
    [
      'bad data',
      4,
      (e: Record<string, unknown>) => (e.data = { path: 42 }),
      /seq 4: CheckpointCreated has invalid data/,
    ],
    ['seq gap', 5, (e: Record<string, unknown>) => (e.seq = 7), /seq 5: seq gap: found seq 7 where seq 5 was expected/],
    ['seq going back', 5, (e: Record<string, unknown>) => (e.seq = 4), /seq 5: seq goes back: found seq 4 where/],
    ['a string seq', 3, (e: Record<string, unknown>) => (e.seq = '3'), /seq 3: seq must be a number, found string "3"/],
    ['a missing seq', 3, (e: Record<string, unknown>) => delete e.seq, /seq 3: seq must be a number, found nothing/],
    ['a fractional seq', 3, (e: Record<string, unknown>) => (e.seq = 2.5), /seq 2.5: not a valid envelope: seq: /],
    ['a bad timestamp', 2, (e: Record<string, unknown>) => (e.at = 'yesterday'), /seq 2: not a valid envelope: at: /],
    ['not an envelope', 2, (e: Record<string, unknown>) => delete e.at, /seq 2: not a valid envelope/],
    [
      'from a newer build',
      6,
      (e: Record<string, unknown>) => (e.machineVersion = 99),
      /machineVersion 99.*upgrade ms2m/,
    ],
    [
      'another migration',
      2,
      (e: Record<string, unknown>) => (e.migrationId = 'default/other'),
      /belongs to StatefulMigration default\/other/,
    ],
  ])('%s is a CorruptEventError naming migration and seq', (_name, seq, change, message) => {
    const bad = corruptAt(seq, change);
    expect(() => parseLog(migrationChart, bad, id)).toThrow(CorruptEventError);
    expect(() => parseLog(migrationChart, bad, id)).toThrow(message);
    expect(() => parseLog(migrationChart, bad, id)).toThrow(`Event log of StatefulMigration ${id}`);
    let thrown = '';
    try {
      parseLog(migrationChart, bad, id);
    } catch (err) {
      thrown = (err as Error).message;
    }
    expect(thrown).not.toContain('\n'); // one line in a log record or on the command line
  });

  it('a host refuses to resume a corrupt log instead of crashing later', async () => {
    const s = scenario({ log: createMemoryEventLog() });
    const bad = corruptAt(3, (e) => (e.data = {}));
    for (const [i, e] of bad.entries())
      await s.log.append(s.key, { type: e.type, at: e.at, machineVersion: e.machineVersion, data: e.data }, i);
    await expect(MigrationHost.open({ id, deps: s.deps })).rejects.toThrow(
      /seq 3: ReplayQueueCreated has invalid data/,
    );
  });

  it('parseEvent gives the machine epoch-ms time', () => {
    expect(parseEvent(migrationChart, golden[0], id, 1).at).toBe(Date.parse(golden[0].at));
  });
});
