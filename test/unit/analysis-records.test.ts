import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../adapters/errors.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { CorruptEventError } from '../../adapters/event-log/port.ts';
import { EVAL_LABELS, EVALUATION_RUN_KIND, type RunMeasurement, readRecords } from '../../eval/analysis/index.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';
import { MIGRATION_KIND } from '../../machines/migration-chart.ts';
import { scriptedFaults } from '../support/faults.ts';
import { runToEnd, type ScenarioOptions, scenario } from '../support/scenario.ts';

/** A real migration's log (fake world, virtual time). */
async function logOf(opts: ScenarioOptions = {}): Promise<EventEnvelope[]> {
  const s = scenario(opts);
  await runToEnd(s);
  return s.log.read(s.key);
}

/** Copies `events` into `log` as migration `id`, with `labels` on its MigrationRequested (none: as old logs). */
async function put(
  log: ReturnType<typeof createMemoryEventLog>,
  id: string,
  events: EventEnvelope[],
  labels?: Record<string, string>,
) {
  for (const e of events) {
    const data = e.seq === 1 && labels ? { ...(e.data as object), labels } : e.data;
    await log.append(
      { kind: MIGRATION_KIND, id },
      { type: e.type, at: e.at, machineVersion: e.machineVersion, data },
      e.seq - 1,
    );
  }
}

const measurement = (id: string, over: Partial<RunMeasurement> = {}): RunMeasurement => ({
  migration: { kind: 'StatefulMigration', id },
  configuration: 'statefulset-shadowpod',
  msgRate: 13,
  repetition: 2,
  downtimeMs: 40,
  downProbes: 4,
  produced: 500,
  processed: 500,
  replayed: 30,
  lost: 0,
  duplicated: 0,
  targetNode: 'node-b',
  sourceNode: 'node-a',
  outcome: 'Completed',
  probes: 900,
  processingDelayMs: 10,
  ...over,
});

const measure = (log: ReturnType<typeof createMemoryEventLog>, runId: string, data: unknown) =>
  log.append(
    { kind: EVALUATION_RUN_KIND, id: runId },
    { type: 'RunMeasured', at: '2026-03-16T09:10:00.000Z', machineVersion: 1, data },
    0,
  );

describe('records from the event log', () => {
  it('a log written before labels were kept: no labels, configuration derived from owner and transfer, no downtime', async () => {
    const log = createMemoryEventLog();
    await put(log, 'default/m1', await logOf({ workload: 'deployment' }));
    const [r] = await readRecords(log);
    expect(r).toMatchObject({
      source: 'ms2m',
      run: 1,
      labels: {},
      configuration: 'deployment-direct',
      msgRate: null,
      status: 'Completed',
      strategy: 'ShadowPod',
      downtimeMs: null,
      accounting: null,
      reason: null,
    });
    expect(r!.totalMs).toBe(
      ['checkpoint', 'transfer', 'restore', 'replay', 'finalize'].reduce(
        (a, p) => a + (r!.phases[p as 'replay'] ?? 0),
        0,
      ),
    );
  });

  it('labels name configuration, rate, run and repetition; the run measurement adds downtime and accounting', async () => {
    const log = createMemoryEventLog();
    await put(log, 'default/m1/u1', await logOf({ workload: 'statefulset' }), {
      [EVAL_LABELS.configuration]: 'statefulset-sequential',
      [EVAL_LABELS.rate]: '7',
      [EVAL_LABELS.repetition]: '3',
      [EVAL_LABELS.run]: 'march',
    });
    await measure(log, 'march/statefulset-sequential/7/3', measurement('default/m1/u1', { downtimeMs: 4100 }));
    const [r] = await readRecords(log);
    expect(r).toMatchObject({
      configuration: 'statefulset-sequential',
      msgRate: 7,
      repetition: 3,
      evalRun: 'march',
      downtimeMs: 4100,
      downProbes: 4,
      strategy: 'Sequential',
    });
    expect(r!.accounting).toMatchObject({ produced: 500, lost: 0, targetNode: 'node-b', probes: 900 });
  });

  it('without labels, the run measurement names configuration, rate and repetition', async () => {
    const log = createMemoryEventLog();
    await put(log, 'default/m2/u2', await logOf());
    await measure(log, 'e/statefulset-shadowpod/13/2', measurement('default/m2/u2'));
    const [r] = await readRecords(log);
    expect(r).toMatchObject({ configuration: 'statefulset-shadowpod', msgRate: 13, repetition: 2, downtimeMs: 40 });
  });

  it('a failed migration: its phase, reason and message; a migration in progress: its current phase', async () => {
    const log = createMemoryEventLog();
    await put(
      log,
      'default/failed',
      await logOf({ faults: scriptedFaults([{ op: 'checkpoint', nth: 1, outcome: { kind: 'permanent' } }]) }),
    );
    const running = (await logOf()).slice(0, 6);
    await put(log, 'default/running', running);
    const records = await readRecords(log);
    const failed = records.find((r) => r.migration === 'default/failed')!;
    expect(failed).toMatchObject({ status: 'Failed', reason: 'StepFailed', failedPhase: 'Checkpointing' });
    expect(failed.message).toMatch(/takeCheckpoint failed/);
    expect(failed.phases.transfer).toBeNull();
    const inProgress = records.find((r) => r.migration === 'default/running')!;
    expect(inProgress.finishedAt).toBeNull();
    expect(['Pending', 'Checkpointing', 'Transferring']).toContain(inProgress.status);
  });

  it('a RunMeasured that does not fit the EvaluationRun schema is a CorruptEventError naming the stream and seq', async () => {
    const log = createMemoryEventLog();
    await put(log, 'default/m1', await logOf());
    await measure(log, 'e/c/1/1', { ...measurement('default/m1'), downtimeMs: -5 });
    const err = await readRecords(log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptEventError);
    expect((err as Error).message).toMatch(/EvaluationRun e\/c\/1\/1 at seq 1: .*downtimeMs/);
  });

  it('a migration event that does not validate stops the analysis with the migration and seq', async () => {
    const log = createMemoryEventLog();
    const events = await logOf();
    events[3] = { ...events[3]!, data: { nonsense: true } };
    await put(log, 'default/broken', events);
    await expect(readRecords(log)).rejects.toThrow(/StatefulMigration default\/broken at seq 4/);
  });

  it('a time filter that is not a time is refused before anything is read', async () => {
    const err = await readRecords(createMemoryEventLog(), { since: 'yesterday' }).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe(ErrorCode.INVALID_INPUT);
    expect((err as Error).message).toMatch(/"yesterday" is not a time/);
  });

  it('reports progress while reading and once at the end', async () => {
    const log = createMemoryEventLog();
    const events = await logOf();
    for (const id of ['a/1', 'a/2', 'a/3']) await put(log, id, events);
    const seen: Array<{ events: number; migrations: number }> = [];
    await readRecords(log, {}, { onProgress: (p) => seen.push(p), progressEvery: events.length });
    expect(seen.at(-1)).toEqual({ events: events.length * 3, migrations: 3 });
    expect(seen.length).toBeGreaterThanOrEqual(3);
  });

  it('events after the final state are validated and counted, and change nothing else (a final state absorbs them)', async () => {
    const events = await logOf();
    const last = events.at(-1)!;
    const extra = { ...last, seq: last.seq + 1, type: 'CancelRequested', data: { reason: 'too late' } };
    const plain = createMemoryEventLog();
    await put(plain, 'default/m1', events);
    const more = createMemoryEventLog();
    await put(more, 'default/m1', [...events, extra]);
    const [a] = await readRecords(plain);
    const [b] = await readRecords(more);
    expect(b).toEqual({ ...a, events: a!.events + 1 });
    const broken = createMemoryEventLog();
    await put(broken, 'default/m1', [...events, { ...extra, data: { reason: 7 } }]);
    await expect(readRecords(broken)).rejects.toThrow(new RegExp(`default/m1 at seq ${extra.seq}`));
  });
});
