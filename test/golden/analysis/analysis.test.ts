import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationChart } from '../../../actors/charts/migration.ts';
import { parseLog } from '../../../actors/event-schema.ts';
import type { EventLogReader } from '../../../adapters/event-log/port.ts';
import { openFileLogReader } from '../../../adapters/file-log/file-log-reader.ts';
import {
  aggregate,
  aggregateCsv,
  type MigrationRecord,
  parseShadowCsv,
  readRecords,
  SHADOW_COLUMNS,
  toShadowCsv,
} from '../../../eval/analysis/index.ts';
import { fold } from '../../../machines/fold.ts';
import { MIGRATION_KIND } from '../../../machines/migration-chart.ts';
import { silent } from '../../support/scenario.ts';
import { EXPECTED_AGGREGATE, EXPECTED_CSV, LOG_DIR } from './generate.ts';

// The committed log set (generate.ts: real folds of 18 migrations in four configurations and three rates, their
// EvaluationRun measurements, and one legacy log) analysed to the committed CSV and aggregate, exactly.
const listing = () =>
  readdirSync(LOG_DIR)
    .sort()
    .map((f) => {
      const s = statSync(join(LOG_DIR, f));
      return `${f} ${s.size} ${s.mtimeMs}`;
    });

let reader: EventLogReader;
let records: MigrationRecord[];
let before: string[];

beforeAll(async () => {
  before = listing();
  reader = await openFileLogReader({ dir: LOG_DIR, logger: silent });
  records = await readRecords(reader);
});
afterAll(() => reader.close());

describe('analysis of the committed log set', () => {
  it('gives the committed CSV (SHADOW columns, then ms2m columns) exactly', () => {
    expect(records).toHaveLength(19);
    expect(toShadowCsv(records)).toBe(readFileSync(EXPECTED_CSV, 'utf8'));
  });

  it('gives the committed aggregate per rate x configuration exactly', () => {
    expect(aggregateCsv(aggregate(records))).toBe(readFileSync(EXPECTED_AGGREGATE, 'utf8'));
  });

  it("takes phases, outcome and reason from xstate's own fold of each log (the reference)", async () => {
    for (const r of records) {
      const events = await reader.read({ kind: MIGRATION_KIND, id: r.migration });
      const final = fold(migrationChart, r.migration, parseLog(migrationChart, events, r.migration))!;
      const t = final.context.phaseTimings;
      expect(r.status).toBe(final.value);
      expect([r.phases.checkpoint, r.phases.transfer, r.phases.restore, r.phases.replay, r.phases.finalize]).toEqual(
        [t.Checkpointing, t.Transferring, t.Restoring, t.Replaying, t.Finalizing].map((v) => v ?? null),
      );
      expect(r.reason).toBe(final.context.failure?.reason ?? null);
      expect(r.events).toBe(events.length);
    }
  });

  it('joins the EvaluationRun measurements by migration id; a migration without one has empty downtime cells', () => {
    const legacy = records.find((r) => r.migration === 'default/m1')!;
    expect(legacy.downtimeMs).toBeNull();
    expect(legacy.labels).toEqual({});
    expect(toShadowCsv([legacy]).split('\n')[1]!.split(',').slice(3, 5)).toEqual(['', '']);
    const sequential = records.filter((r) => r.configuration === 'statefulset-sequential');
    expect(sequential).toHaveLength(4);
    for (const r of sequential) expect(r.downtimeMs).toBeGreaterThan(r.phases.restore!);
    expect(records.filter((r) => r.accounting !== null)).toHaveLength(18);
  });

  it('reads the failure and the cutoff from the log', () => {
    const failed = records.filter((r) => r.status === 'Failed');
    expect(failed.map((r) => [r.reason, r.failedPhase])).toEqual([['StepFailed', 'Checkpointing']]);
    expect(records.filter((r) => r.cutoffTaken).map((r) => r.migration)).toEqual([
      'default/m1',
      'default/smig-18/00000000-0000-4000-8000-000000000018',
    ]);
  });

  it('filters by label, configuration and time', async () => {
    const ids = async (f: Parameters<typeof readRecords>[1]) => (await readRecords(reader, f)).map((r) => r.migration);
    expect(await ids({ labels: { 'ms2m.io/eval-run': 'cutoff' } })).toEqual([
      'default/smig-18/00000000-0000-4000-8000-000000000018',
    ]);
    expect(await ids({ labels: { 'ms2m.io/eval-run': 'golden', 'ms2m.io/eval-rate': '4' } })).toHaveLength(8);
    expect(await ids({ configuration: 'pod-direct' })).toHaveLength(6);
    expect(await ids({ since: '2026-03-16T10:20:00Z', until: '2026-03-16T10:25:00Z' })).toEqual([
      'default/smig-17/00000000-0000-4000-8000-000000000017',
    ]);
    const renumbered = await readRecords(reader, { labels: { 'ms2m.io/eval-run': 'cutoff' } });
    expect(renumbered[0]!.run).toBe(1);
  });

  it("SHADOW's reader reads our CSV's first twelve columns back", () => {
    const back = parseShadowCsv(toShadowCsv(records), 'expected.csv');
    expect(back.map((r) => [r.run, r.msgRate, r.configuration, r.status, r.totalMs, r.phases.replay])).toEqual(
      records.map((r) => [r.run, r.msgRate, r.configuration, r.status, r.totalMs, r.phases.replay]),
    );
    expect(readFileSync(EXPECTED_CSV, 'utf8').split('\n')[0]!.startsWith(SHADOW_COLUMNS.join(','))).toBe(true);
  });

  it('never changes the log it reads', () => {
    expect(listing()).toEqual(before);
  });
});
