import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { volumeResizeChart } from '../../../actors/charts/volume-resize.ts';
import { parseLog } from '../../../actors/event-schema.ts';
import type { EventEnvelope } from '../../../machines/envelope.ts';
import { fold } from '../../../machines/fold.ts';

// Golden VolumeResize logs (recorded by scripts/record-volume-resize-golden.ts): every committed log must fold
// to its recorded final snapshot. A change that breaks one needs a machineVersion bump and an upcaster.
const dir = import.meta.dirname;
const logs = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
const read = (file: string): EventEnvelope[] =>
  readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EventEnvelope);
const recorded = (file: string) =>
  JSON.parse(readFileSync(join(dir, file.replace(/\.jsonl$/, '.snapshot.json')), 'utf8'));

describe('golden VolumeResize logs replay to their recorded final snapshot', () => {
  it('covers the scenarios', () => {
    expect(logs.sort()).toEqual(
      ['completed', 'crash-mid-copy', 'dry-run', 'rollback-after-rebind', 'used-bytes-too-large'].map(
        (n) => `${n}.jsonl`,
      ),
    );
  });

  it.each(logs)('%s', (file) => {
    const envelopes = read(file);
    expect(envelopes.every((e) => e.kind === 'VolumeResize')).toBe(true);
    const id = envelopes[0]!.id;
    const final = fold(volumeResizeChart, id, parseLog(volumeResizeChart, envelopes, id))!;
    expect(final.status).toBe('done');
    expect({ value: final.value, context: JSON.parse(JSON.stringify(final.context)) }).toEqual(recorded(file));
  });

  it('the crash mid-copy resumed the copy it had started and finished with every claim copied once', () => {
    const types = read('crash-mid-copy.jsonl').map((e) => e.type);
    expect(types.filter((t) => t === 'VolumeCopied')).toHaveLength(4);
    expect(recorded('crash-mid-copy.jsonl').value).toBe('Completed');
  });
});
