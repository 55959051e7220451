// One runtime for every chart (issue 8 §1): the host, fold, rebuild, event schema, snapshot cache and logs run a
// second chart (the test-only toy chart: two steps) exactly as they run the migration chart, and streams of two
// kinds with the same id share one log without meeting.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChartDefinitionError, chartFingerprint, defineChart } from '../../actors/chart.ts';
import { MigrationHost, migrationChart } from '../../actors/charts/migration.ts';
import { parseLog } from '../../actors/event-schema.ts';
import { createHost } from '../../actors/host.ts';
import type { Committed } from '../../actors/observers.ts';
import { rebuildAll } from '../../actors/rebuild.ts';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { createMemorySnapshotCache } from '../../adapters/snapshot-cache/memory.ts';
import type { SnapshotOf } from '../../machines/chart.ts';
import { keyText } from '../../machines/envelope.ts';
import { Fold, fold } from '../../machines/fold.ts';
import { crashAfter } from '../support/crash-log.ts';
import { runToEnd, scenario } from '../support/scenario.ts';
import { TOY_KIND, toyChart, toyScenario } from '../support/toy-chart.ts';

const ToyHost = createHost(toyChart);
type ToySnapshot = SnapshotOf<typeof toyChart>;
const charts = [migrationChart, toyChart];

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms2m-any-chart-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs one toy instance to its end on `log`. */
async function runToy(log: EventLog, id: string, request = { label: 'pack', maxAttempts: 3 }) {
  const t = toyScenario(log);
  const host = await ToyHost.open({ id, deps: t.deps });
  await host.request(request);
  const final = await host.done();
  await host.stop();
  return { final, toy: t.toy };
}

describe('the toy chart runs on the migration runtime', () => {
  it('is logged under its kind, and fold(log) equals the live snapshot after every event', async () => {
    const t = toyScenario();
    const live: Committed<ToySnapshot>[] = [];
    const host = await ToyHost.open({
      id: 'default/t1',
      deps: t.deps,
      observers: [{ name: 'live', observe: (batch) => void live.push(...batch) }],
    });
    await host.request({ label: 'pack', maxAttempts: 3 });
    const final = await host.done();
    await host.idle();
    expect(final.value).toBe('Done');
    expect(final.context.result).toBe('pack-token:done');
    expect(toyChart.phaseOf(final)).toBe('Done');
    expect(toyChart.terminalPhases).toContain(toyChart.phaseOf(final));

    const events = await t.log.read({ kind: TOY_KIND, id: 'default/t1' });
    expect(events.map((e) => [e.kind, e.id, e.seq, e.type, e.machineVersion])).toEqual([
      [TOY_KIND, 'default/t1', 1, 'ToyRequested', 1],
      [TOY_KIND, 'default/t1', 2, 'Prepared', 1],
      [TOY_KIND, 'default/t1', 3, 'Finished', 1],
    ]);
    expect(await t.log.read({ kind: migrationChart.kind, id: 'default/t1' })).toEqual([]);
    const parsed = parseLog(toyChart, events, 'default/t1');
    const folding = new Fold(toyChart, 'default/t1', parsed[0]!);
    const prefixes = [folding.snapshot, ...parsed.slice(1).map((ev) => folding.apply(ev))];
    expect(live.map((c) => [c.kind, c.id, c.event.seq, c.replayed])).toEqual(
      events.map((e) => [TOY_KIND, 'default/t1', e.seq, false]),
    );
    for (const [i, c] of live.entries()) {
      expect({ value: prefixes[i]!.value, context: prefixes[i]!.context }).toEqual({
        value: c.snapshot.value,
        context: c.snapshot.context,
      });
    }
    expect(t.toy.applied).toEqual(['default/t1:prepare', 'default/t1:finish']);
    await host.stop();
  });

  it('retries a transient failure after its backoff, records it as StepFailed, and completes', async () => {
    const t = toyScenario();
    t.toy.failNext.set('finish', 2);
    const host = await ToyHost.open({ id: 'default/t2', deps: t.deps });
    await host.request({ label: 'retry', maxAttempts: 3 });
    expect((await host.done()).value).toBe('Done');
    const events = await t.log.read({ kind: TOY_KIND, id: 'default/t2' });
    const failed = events.filter((e) => e.type === 'StepFailed');
    expect(failed.map((e) => e.data)).toEqual([
      expect.objectContaining({ step: 'finish', attempt: 1, transient: true, code: 'INJECTED_TRANSIENT' }),
      expect.objectContaining({ step: 'finish', attempt: 2, transient: true }),
    ]);
    // the retry ran no earlier than its backoff (virtual time: exactly then)
    const finished = events.find((e) => e.type === 'Finished')!;
    expect(Date.parse(finished.at) - Date.parse(failed[1]!.at)).toBe(100);
    await host.stop();
  });

  it('records DeadlineExceeded when a step outlives the deadline, and cancel ends it as the chart says', async () => {
    const t = toyScenario();
    t.toy.hang.add('prepare');
    const late = await ToyHost.open({ id: 'default/late', deps: t.deps });
    await late.request({ label: 'late', maxAttempts: 3, deadlineMs: 60_000 });
    const final = await late.done();
    expect(final.value).toBe('Failed');
    expect(final.context.failure).toBe('deadline of Preparing exceeded');
    const types = (await t.log.read({ kind: TOY_KIND, id: 'default/late' })).map((e) => e.type);
    expect(types).toEqual(['ToyRequested', 'DeadlineExceeded']);
    await late.stop();

    const cancelled = await ToyHost.open({ id: 'default/cancel', deps: t.deps });
    await cancelled.request({ label: 'cancel', maxAttempts: 3 });
    await cancelled.cancel('no longer needed');
    expect((await cancelled.done()).value).toBe('Cancelled');
    await cancelled.stop();
  });

  it('never appends a fact its chart does not accept: the effect fails as a step instead', async () => {
    const t = toyScenario();
    const host = await ToyHost.open({
      id: 'default/bad',
      deps: t.deps,
      effects: { prepare: async () => ({ type: 'Prepared', data: { token: '' } }) }, // the schema wants a token
    });
    await host.request({ label: 'bad', maxAttempts: 3 });
    const final = await host.done();
    expect(final.value).toBe('Failed');
    const events = await t.log.read({ kind: TOY_KIND, id: 'default/bad' });
    expect(() => parseLog(toyChart, events, 'default/bad')).not.toThrow(); // the log stays readable
    expect(events.map((e) => e.type)).toEqual(['ToyRequested', 'StepFailed']);
    expect(events[1]!.data).toMatchObject({ step: 'prepare', code: 'CORRUPT_EVENT' });
    expect(String((events[1]!.data as { message: string }).message)).toMatch(/Prepared has invalid data: data\.token/);
    await host.stop();
  });
});

describe('crash at every event of a toy run, rebuild, resume', () => {
  it('rebuilds the crashed instance as active, resumes it to the same end, and applies each effect once', async () => {
    const cleanLog = createMemoryEventLog();
    const clean = await runToy(cleanLog, 'default/t');
    const events = (await cleanLog.read({ kind: TOY_KIND, id: 'default/t' })).length;
    expect(events).toBe(3);
    for (let crashAt = 1; crashAt <= events; crashAt++) {
      const log = createMemoryEventLog();
      const t = toyScenario(log);
      let first: Awaited<ReturnType<typeof ToyHost.open>> | undefined;
      let crashed!: () => void;
      const crash = new Promise<void>((resolve) => {
        crashed = resolve;
      });
      const crashing = crashAfter(
        log,
        (e) => e.seq === crashAt,
        () => {
          void first?.stop();
          crashed();
        },
      );
      first = await ToyHost.open({ id: 'default/t', deps: { ...t.deps, log: crashing } });
      await first.request({ label: 'pack', maxAttempts: 3 }).catch(() => undefined); // a crash at seq 1 stops it
      await crash;
      await first.stop();
      expect(crashing.appendsAfterCrash).toBe(0);

      const [rebuilt] = await rebuildAll(log, { charts, workers: 0 });
      expect(rebuilt).toMatchObject({ kind: TOY_KIND, id: 'default/t', lastSeq: crashAt });
      expect(rebuilt!.status).toBe(crashAt === events ? 'done' : 'active');

      const again = await ToyHost.open({ id: 'default/t', deps: t.deps });
      const final = await again.done();
      expect({ value: final.value, context: final.context }).toEqual({
        value: clean.final.value,
        context: clean.final.context,
      });
      expect(t.toy.applied).toEqual(['default/t:prepare', 'default/t:finish']);
      await again.stop();
    }
  });
});

describe('two kinds with the same id in one log', () => {
  // virtual time needs a log whose work is all promises (the memory log); the file log gets the result below
  it('do not collide: both run to their end, list, read, rebuild and cache apart', async () => {
    const log = createMemoryEventLog();
    const s = scenario({ workload: 'statefulset', log });
    const cache = createMemorySnapshotCache();
    s.deps.snapshots = cache;
    const id = s.migrationId; // the toy instance takes the migration's very id
    const migration = MigrationHost.open({ id, deps: s.deps }).then(async (h) => {
      await h.request({ spec: s.spec });
      return h.done();
    });
    const t = toyScenario(log);
    const toyHost = await ToyHost.open({ id, deps: { ...t.deps, snapshots: cache } });
    await toyHost.request({ label: 'beside', maxAttempts: 3 });
    const [m, toy] = await Promise.all([migration, toyHost.done()]);
    expect(m.value).toBe('Completed');
    expect(toy.value).toBe('Done');

    expect((await log.list()).filter((k) => k.id === id)).toEqual([
      { kind: migrationChart.kind, id },
      { kind: TOY_KIND, id },
    ]);
    const mEvents = await log.read({ kind: migrationChart.kind, id });
    const tEvents = await log.read({ kind: TOY_KIND, id });
    expect(mEvents.every((e) => e.kind === migrationChart.kind)).toBe(true);
    expect(tEvents.map((e) => e.type)).toEqual(['ToyRequested', 'Prepared', 'Finished']);
    expect(mEvents.map((e) => e.seq)).toEqual(mEvents.map((_, i) => i + 1));
    expect(fold(migrationChart, id, parseLog(migrationChart, mEvents, id))!.value).toBe('Completed');
    expect(fold(toyChart, id, parseLog(toyChart, tEvents, id))!.context).toEqual(toy.context);

    // each host cached its own final snapshot, keyed by its kind and fingerprinted by its chart
    expect([...cache.entries.keys()].sort()).toEqual([
      keyText({ kind: migrationChart.kind, id }),
      keyText({ kind: TOY_KIND, id }),
    ]);
    expect(cache.entries.get(keyText({ kind: TOY_KIND, id }))).toMatchObject({ chart: chartFingerprint(toyChart) });
    expect(chartFingerprint(toyChart)).not.toBe(chartFingerprint(migrationChart));

    const folded = await rebuildAll(log, { charts, workers: 0 });
    const cached = await rebuildAll(log, { charts, workers: 0, cache });
    const byKey = (r: typeof folded) => Object.fromEntries(r.map((x) => [keyText(x), x]));
    expect(byKey(cached)).toEqual(byKey(folded));
    expect(byKey(folded)[keyText({ kind: TOY_KIND, id })]).toMatchObject({ value: 'Done', lastSeq: 3 });
    expect(byKey(folded)[keyText({ kind: migrationChart.kind, id })]).toMatchObject({ value: 'Completed' });
    await toyHost.stop();

    // the same two streams in a file log: two files, read and rebuilt apart (on worker threads)
    const dir = join(root, 'same-id');
    const file = await openFileLog({ dir, logger: pino({ level: 'silent' }), fsync: false });
    for (const e of [...mEvents, ...tEvents]) await file.append(e, e, e.seq - 1);
    expect((await readdir(dir)).sort()).toEqual([`StatefulMigration@default%2Fm1.jsonl`, `Toy@default%2Fm1.jsonl`]);
    expect(await file.read({ kind: TOY_KIND, id })).toEqual(tEvents);
    expect(await file.read({ kind: migrationChart.kind, id })).toEqual(mEvents);
    expect(byKey(await rebuildAll(file, { charts, workers: 1 }))).toEqual(byKey(folded));
    await file.close();
    await log.close();
  });

  it('rebuild folds both charts on worker threads (each imported from its module) as inline', async () => {
    const log = createMemoryEventLog();
    await runToEnd(scenario({ log }));
    for (let i = 0; i < 3; i++) await runToy(log, `default/t${i}`);
    const inline = await rebuildAll(log, { charts, workers: 0 });
    const threaded = await rebuildAll(log, { charts, workers: 2, batch: 2 });
    const byKey = (r: typeof inline) => Object.fromEntries(r.map((x) => [keyText(x), x]));
    expect(Object.keys(byKey(threaded)).sort()).toEqual([
      keyText({ kind: migrationChart.kind, id: 'default/m1' }),
      ...[0, 1, 2].map((i) => keyText({ kind: TOY_KIND, id: `default/t${i}` })),
    ]);
    expect(byKey(threaded)).toEqual(byKey(inline));
  });
});

describe('a chart that breaks the runtime protocol is refused when it is defined', () => {
  const { StepFailed: _stepFailed, ...withoutStepFailed } = toyChart.schemas;
  it.each([
    ['a kind that is not a kind name', { ...toyChart, kind: 'toy.chart' }, /kind must match/],
    ['a version that is not a positive integer', { ...toyChart, version: 0 }, /version must be a positive integer/],
    [
      'a step without an effect',
      { ...toyChart, effects: { prepare: toyChart.effects.prepare } },
      /step finish has no effect/,
    ],
    [
      'a step the machine does not invoke',
      { ...toyChart, steps: [...toyChart.steps, 'polish'] },
      /step polish has no effect|not an actor/,
    ],
    ['no schema for a runtime event', { ...toyChart, schemas: withoutStepFailed }, /event StepFailed has no schema/],
    ['an upcaster for a version that is not older', { ...toyChart, upcasters: { 1: (e: never) => e } }, /upcaster 1/],
  ])('%s', (_what, chart, message) => {
    expect(() => defineChart(chart as typeof toyChart)).toThrow(ChartDefinitionError);
    expect(() => defineChart(chart as typeof toyChart)).toThrow(message);
  });
});
