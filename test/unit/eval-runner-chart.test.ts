import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { migrationChart } from '../../actors/charts/migration.ts';
import { rebuildAll } from '../../actors/rebuild.ts';
import { virtualClock } from '../../adapters/clock/fake.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { CorruptEventError } from '../../adapters/event-log/port.ts';
import {
  EVALUATION_RUN_KIND,
  EvaluationRunHost,
  evaluationRunChart,
  parseRunStreamId,
  type RunMeasurement,
  runStreamId,
} from '../../eval/runner/evaluation-chart.ts';

const measurement: RunMeasurement = {
  migration: { kind: 'StatefulMigration', id: 'eval/mig-x/uid-1' },
  configuration: 'pod-direct',
  msgRate: 4,
  repetition: 2,
  downtimeMs: 0,
  downProbes: 0,
  produced: 120,
  processed: 120,
  replayed: 7,
  lost: 0,
  duplicated: 0,
  targetNode: 'node-b',
  sourceNode: 'node-a',
  outcome: 'Completed',
  probes: 900,
  processingDelayMs: 50,
};

const deps = (log = createMemoryEventLog()) => ({
  clock: virtualClock(Date.parse('2026-12-01T00:00:00Z')),
  logger: pino({ level: 'silent' }),
  log,
});

describe('EvaluationRun chart', () => {
  it('records RunMeasured once on the run stream, folds to Measured, and rebuilds beside migrations', async () => {
    const d = deps();
    const id = runStreamId('e1', 'pod-direct', 4, 2);
    expect(id).toBe('e1/pod-direct/4/2');
    const host = await EvaluationRunHost.open({ id, deps: d });
    expect(host.snapshot()).toBeNull();
    await host.request(measurement);
    const done = await host.done();
    expect(done.value).toBe('Measured');
    expect(done.context).toMatchObject({ ...measurement, id });
    // a second runner (a resumed eval) finds the run recorded and appends nothing
    const again = await EvaluationRunHost.open({ id, deps: d });
    expect(again.snapshot()?.status).toBe('done');
    await again.request({ ...measurement, downtimeMs: 5 });
    const events = await d.log.read({ kind: EVALUATION_RUN_KIND, id });
    expect(events.map((e) => [e.seq, e.type])).toEqual([[1, 'RunMeasured']]);
    expect(events[0]?.data).toEqual(measurement);

    const rebuilt = await rebuildAll(d.log, { charts: [migrationChart, evaluationRunChart], workers: 0 });
    expect(rebuilt).toEqual([
      expect.objectContaining({ kind: EVALUATION_RUN_KIND, id, status: 'done', value: 'Measured', lastSeq: 1 }),
    ]);
    // and on a worker thread, which imports the chart from its module
    const threaded = await rebuildAll(d.log, { charts: [migrationChart, evaluationRunChart], workers: 1 });
    expect(threaded.map((r) => r.value)).toEqual(['Measured']);
  });

  it('refuses a measurement without the fields the analysis reads (nothing appended)', async () => {
    const d = deps();
    const host = await EvaluationRunHost.open({ id: 'e1/pod-direct/4/1', deps: d });
    const { lost: _lost, ...partial } = measurement;
    await expect(host.request(partial as RunMeasurement)).rejects.toBeInstanceOf(CorruptEventError);
    expect(await d.log.list(EVALUATION_RUN_KIND)).toEqual([]);
  });

  it('parses stream ids back, eval names with slashes included; other ids are null', () => {
    expect(parseRunStreamId('e1/pod-direct/4/2')).toEqual({
      evalName: 'e1',
      configuration: 'pod-direct',
      rate: 4,
      repetition: 2,
    });
    expect(parseRunStreamId(runStreamId('team/e2', 'deployment-registry', 0.5, 10))).toEqual({
      evalName: 'team/e2',
      configuration: 'deployment-registry',
      rate: 0.5,
      repetition: 10,
    });
    expect(parseRunStreamId('e1/pod-direct/4')).toBeNull();
    expect(parseRunStreamId('e1/pod-direct/x/1')).toBeNull();
    expect(parseRunStreamId('e1/pod-direct/4/0')).toBeNull();
  });
});
