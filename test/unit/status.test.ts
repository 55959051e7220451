import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { goDuration, parseGoDuration } from '../../actors/go-duration.ts';
import { projectStatus } from '../../actors/status.ts';
import { formatRow, phaseSummary, timeline } from '../../actors/timeline.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';

const golden = (name: string) =>
  readFileSync(join(import.meta.dirname, `../golden/${name}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EventEnvelope);

describe("phaseTimings in SHADOW's Go-duration format", () => {
  it.each([
    [0, '0s'],
    [396, '396ms'],
    [1243, '1.243s'],
    [10_000, '10s'],
    [70_099, '1m10.099s'],
    [3_723_500, '1h2m3.5s'],
  ])('%i ms -> %s', (ms, text) => {
    expect(goDuration(ms)).toBe(text);
    expect(parseGoDuration(text)).toBe(ms);
  });

  it("reads SHADOW's published values, float noise included", () => {
    expect(parseGoDuration('10.094999999999999s')).toBeCloseTo(10_095, 6);
    expect(() => parseGoDuration('soon')).toThrow("not a Go duration: 'soon'");
  });
});

describe('status projection', () => {
  it('a completed Sequential migration', () => {
    const { final } = timeline(golden('sequential'));
    const status = projectStatus(final!, { eventLog: 'file:/x', generation: 3 });
    expect(status).toMatchObject({
      phase: 'Completed',
      sourceNode: 'node-a',
      containerName: 'consumer',
      targetPod: 'consumer-0',
      strategy: 'Sequential',
      statefulSetName: 'consumer',
      originalReplicas: 1,
      observedGeneration: 3,
      eventLog: 'file:/x',
    });
    expect(Object.keys(status.phaseTimings)).toEqual([
      'Pending',
      'Checkpointing',
      'Transferring',
      'Restoring',
      'Replaying',
      'Finalizing',
    ]);
    for (const [p, text] of Object.entries(status.phaseTimings))
      expect(parseGoDuration(text)).toBe(status.phaseTimingsMs[p]);
    expect(status.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'Completed'],
      ['Progressing', 'False', 'Completed'],
    ]);
    expect(status.completionTime).toBe(golden('sequential').at(-1)!.at);
  });

  it('a failed migration says why, and what compensation did', () => {
    const { final } = timeline(golden('drain-stall-failed'));
    const status = projectStatus(final!);
    expect(status.phase).toBe('Failed');
    const byType = Object.fromEntries(status.conditions.map((c) => [c.type, c]));
    expect(byType.Failed).toMatchObject({ status: 'True', reason: 'ReplayStalled' });
    expect(byType.Compensated).toMatchObject({ status: 'True', reason: 'Compensated' });
    expect(byType.Compensated!.message).toContain('Deleted Pod consumer-shadow');
    expect(status.message).toMatch(/Replay stalled: depth stayed at \d+ for 10s/);
  });

  it('a cancelled migration has the Cancelled reason', () => {
    const status = projectStatus(timeline(golden('cancel-transferring')).final!);
    expect(status.conditions.find((c) => c.type === 'Failed')).toMatchObject({ reason: 'Cancelled' });
  });
});

describe('timeline', () => {
  it('one row per event, offsets from the start, the phase after each event', () => {
    const envs = golden('sequential');
    const { rows, final } = timeline(envs);
    expect(rows).toHaveLength(envs.length);
    expect(rows[0]).toMatchObject({ seq: 1, offsetMs: 0, phase: 'Pending', type: 'MigrationRequested' });
    expect(rows.at(-1)).toMatchObject({ phase: 'Completed', type: 'StatefulSetRestored' });
    expect(formatRow(rows[3]!)).toMatch(/^\s+\+\d+\.\d{3}s {2}Transferring\s+CheckpointCreated\s+Created checkpoint/);
    expect(phaseSummary(final!)).toMatch(
      /^total=\S+ {2}pending=\S+ {2}checkpoint=\S+ {2}transfer=\S+ {2}restore=\S+ {2}replay=\S+ {2}finalize=\S+$/,
    );
  });
});
