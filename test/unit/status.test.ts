import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { parseEvent } from '../../actors/event-schema.ts';
import { goDuration, parseGoDuration } from '../../actors/go-duration.ts';
import { type Condition, projectStatus, StatusProjection, statusFromLog } from '../../actors/status.ts';
import { formatRow, phaseSummary, timeline } from '../../actors/timeline.ts';
import { type EventEnvelope, upcastEnvelope } from '../../machines/envelope.ts';
import { Fold } from '../../machines/fold.ts';

const golden = (name: string) =>
  readFileSync(join(import.meta.dirname, `../golden/${name}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => upcastEnvelope(JSON.parse(l)) as EventEnvelope); // as a log reads them (the files predate kinds)

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

describe('conditions: lastTransitionTime moves only when a status flips (Kubernetes semantics)', () => {
  // the drain-stall log, with compensation finishing 5 s after the stall was detected
  const log = golden('drain-stall-failed');
  const last = log.at(-1)!;
  if (last.type !== 'CompensationCompleted') throw new Error(`drain-stall-failed ends with ${last.type}`);
  const compensatedAt = new Date(Date.parse(last.at) + 5000).toISOString();
  const envs = [...log.slice(0, -1), { ...last, at: compensatedAt }];
  const stalled = envs.at(-2)!; // the depth sample that found the replay stalled
  const byType = (cs: readonly Condition[]) => Object.fromEntries(cs.map((c) => [c.type, c]));

  it('a condition that keeps its status keeps its time through every later update', () => {
    const projection = new StatusProjection();
    const folding = new Fold(migrationChart, envs[0]!.id, parseEvent(migrationChart, envs[0]!, envs[0]!.id, 1));
    const seen: Array<Record<string, Condition>> = [];
    envs.forEach((env, i) => {
      if (i > 0) folding.apply(parseEvent(migrationChart, env, env.id, env.seq));
      projection.apply({ event: env, snapshot: folding.snapshot });
      seen.push(byType(projection.status()!.conditions));
    });
    // Progressing stayed True from the request through every phase, its reason changing each time
    const running = seen.slice(0, -2).map((c) => c.Progressing!);
    expect(new Set(running.map((c) => c.reason)).size).toBeGreaterThan(4);
    expect(new Set(running.map((c) => c.lastTransitionTime))).toEqual(new Set([envs[0]!.at]));
    expect(new Set(envs.slice(0, -2).map((e) => e.at)).size).toBeGreaterThan(3); // time did move meanwhile

    const atStall = seen.at(-2)!;
    expect(atStall.Progressing).toMatchObject({
      status: 'True',
      reason: 'Compensating',
      lastTransitionTime: envs[0]!.at,
    });
    expect(atStall.Failed).toMatchObject({ status: 'True', reason: 'ReplayStalled', lastTransitionTime: stalled.at });
    expect(atStall.Compensated).toMatchObject({ status: 'Unknown', lastTransitionTime: stalled.at });

    const final = seen.at(-1)!;
    expect(final.Failed!.lastTransitionTime).toBe(stalled.at); // still True: unchanged by the later event
    expect(final.Ready).toMatchObject({ status: 'False', lastTransitionTime: stalled.at });
    expect(final.Compensated).toMatchObject({ status: 'True', lastTransitionTime: compensatedAt });
    expect(final.Progressing).toMatchObject({ status: 'False', reason: 'Failed', lastTransitionTime: compensatedAt });
  });

  it('statusFromLog folds the same conditions as a live projection', () => {
    const status = statusFromLog(envs, { eventLog: 'file:/x' })!;
    expect(byType(status.conditions).Failed!.lastTransitionTime).toBe(stalled.at);
    expect(byType(status.conditions).Progressing!.lastTransitionTime).toBe(compensatedAt);
    expect(status).toMatchObject({ phase: 'Failed', eventLog: 'file:/x' });
  });

  it('a completed migration: Ready turned True and Progressing False with the last event', () => {
    const seq = golden('sequential');
    const status = statusFromLog(seq)!;
    expect(status.conditions).toEqual([
      {
        type: 'Ready',
        status: 'True',
        reason: 'Completed',
        message: status.message,
        lastTransitionTime: seq.at(-1)!.at,
      },
      {
        type: 'Progressing',
        status: 'False',
        reason: 'Completed',
        message: 'Migration completed',
        lastTransitionTime: seq.at(-1)!.at,
      },
    ]);
  });

  it('an event seen again (a retried observer batch) changes nothing', () => {
    const projection = new StatusProjection();
    const first = envs[0]!;
    const snap = new Fold(migrationChart, first.id, parseEvent(migrationChart, first, first.id, 1)).snapshot;
    expect(projection.apply({ event: first, snapshot: snap })).toBe(true);
    expect(projection.apply({ event: first, snapshot: snap })).toBe(false);
    expect(projection.lastSeq).toBe(1);
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
