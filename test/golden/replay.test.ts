import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { parseLog } from '../../actors/event-schema.ts';
import { type EventEnvelope, upcastEnvelope } from '../../machines/envelope.ts';
import { fold } from '../../machines/fold.ts';

// Golden logs (Temporal's history_files pattern): every committed log must fold to its recorded final snapshot.
// A change that breaks one needs a machineVersion bump and an upcaster, never a re-recorded file.
const dir = import.meta.dirname;
const logs = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));

const read = (file: string): Array<Record<string, unknown>> =>
  readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const recorded = (file: string) =>
  JSON.parse(readFileSync(join(dir, file.replace(/\.jsonl$/, '.snapshot.json')), 'utf8'));
/** The id of a log in either envelope format (legacy logs name it `migrationId`). */
const idOf = (envelopes: readonly unknown[]) => (upcastEnvelope(envelopes[0]) as EventEnvelope).id;

describe('golden event logs replay to their recorded final snapshot', () => {
  it('covers the required scenarios', () => {
    expect(logs.sort()).toEqual(
      [
        'cancel-transferring',
        'crash-resume',
        'drain-stall-failed',
        'sequential',
        'shadowpod-direct',
        'shadowpod-registry',
      ].map((n) => `${n}.jsonl`),
    );
  });

  it.each(logs)('%s', (file) => {
    const envelopes = read(file);
    const id = idOf(envelopes);
    const final = fold(migrationChart, id, parseLog(migrationChart, envelopes, id))!;
    expect(final.status).toBe('done');
    expect({ value: final.value, context: JSON.parse(JSON.stringify(final.context)) }).toEqual(recorded(file));
  });

  it.each(logs)('%s in the current envelope format (kind and id) folds to the same snapshot', (file) => {
    const current = read(file).map((e) => upcastEnvelope(e) as EventEnvelope);
    expect(current.every((e) => e.kind === 'StatefulMigration' && !('migrationId' in e))).toBe(true);
    const final = fold(migrationChart, current[0]!.id, parseLog(migrationChart, current, current[0]!.id))!;
    expect({ value: final.value, context: JSON.parse(JSON.stringify(final.context)) }).toEqual(recorded(file));
  });
});

describe('the committed golden logs predate kinds (so they exercise the envelope upcaster)', () => {
  it.each(logs)('%s has legacy envelopes: migrationId, no kind', (file) => {
    for (const e of read(file)) {
      expect(e).not.toHaveProperty('kind');
      expect(typeof e.migrationId).toBe('string');
    }
  });
});
