import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLog } from '../../actors/event-schema.ts';
import { fold } from '../../machines/fold.ts';

// Golden logs (Temporal's history_files pattern): every committed log must fold to its recorded final snapshot.
// A change that breaks one needs a machineVersion bump and an upcaster, never a re-recorded file.
const dir = import.meta.dirname;
const logs = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));

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
    const envelopes = readFileSync(join(dir, file), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { migrationId: string });
    const id = envelopes[0]!.migrationId;
    const final = fold(id, parseLog(envelopes, id))!;
    const recorded = JSON.parse(readFileSync(join(dir, file.replace(/\.jsonl$/, '.snapshot.json')), 'utf8'));
    expect(final.status).toBe('done');
    expect({ value: final.value, context: JSON.parse(JSON.stringify(final.context)) }).toEqual(recorded);
  });
});
