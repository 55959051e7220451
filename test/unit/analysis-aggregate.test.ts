import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGoDuration } from '../../actors/go-duration.ts';
import {
  aggregate,
  aggregateCsv,
  chartSpecs,
  type MigrationRecord,
  parseShadowCsv,
  quantile,
  renderSvg,
  stat,
} from '../../eval/analysis/index.ts';
import { SHADOW_EVAL_DIR } from '../../eval/reference/shadow-eval.ts';

const FILE = 'migration-metrics-statefulset-shadowpod-20260316-041245.csv';
const PATH = join(SHADOW_EVAL_DIR, FILE);
const shadow = parseShadowCsv(readFileSync(PATH, 'utf8'), FILE);

describe('aggregates', () => {
  it("quantiles are type 7 (numpy's and R's default)", () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantile([1, 2, 3, 4], 0.95)).toBeCloseTo(3.85, 12);
    expect(quantile([7], 0.95)).toBe(7);
    expect(stat([3, 1, 2])).toEqual({ n: 3, median: 2, q1: 1.5, q3: 2.5, iqr: 1, p95: 2.9 });
    expect(stat([])).toBeNull();
  });

  it("per rate x configuration of SHADOW's runs: the median of the file's own totals", () => {
    const rows = aggregate(shadow);
    expect(rows.map((r) => r.msgRate)).toEqual([10, 20, 40, 60, 80, 100, 120]);
    const lines = readFileSync(PATH, 'utf8').trim().split('\n').slice(1);
    const totals10 = lines
      .map((l) => l.split(','))
      .filter((c) => c[1] === '10')
      .map((c) => parseGoDuration(c[5]!))
      .sort((a, b) => a - b);
    expect(rows[0]!.runs).toBe(10);
    expect(rows[0]!.stats.total!.median).toBeCloseTo((totals10[4]! + totals10[5]!) / 2, 6);
    expect(rows[0]!.stats.pending).toBeNull(); // SHADOW does not time Pending
    expect(rows[0]!.stats.downtime!.median).toBe(0);
  });

  it('counts failed runs but takes the statistics from completed ones only', () => {
    const failed: MigrationRecord = { ...shadow[0]!, status: 'Failed', totalMs: 999_999 };
    const [row] = aggregate([...shadow.slice(0, 10), failed]);
    expect(row).toMatchObject({ runs: 11, completed: 10, failed: 1 });
    expect(row!.stats.total!.n).toBe(10);
    expect(row!.stats.total!.p95).toBeLessThan(999_999);
  });

  it('the aggregate CSV has one line per group and five statistics per metric', () => {
    const csv = aggregateCsv(aggregate(shadow)).trim().split('\n');
    expect(csv).toHaveLength(8);
    expect(csv[0]).toMatch(/^source,configuration,msg_rate,runs,completed,failed,total_n,total_median_ms,total_q1_ms,/);
    expect(csv[1]).toMatch(/^shadow,statefulset-shadowpod,10,10,10,0,10,/);
  });
});

describe('charts', () => {
  const ours: MigrationRecord[] = shadow.slice(0, 3).map((r, i) => ({
    ...r,
    source: 'ms2m',
    migration: `default/m${i}`,
    depth: [
      { offsetMs: 0, depth: 20 },
      { offsetMs: 1000, depth: 5 },
      { offsetMs: 2000, depth: 0 },
    ],
  }));
  const specs = chartSpecs(ours, aggregate(ours), shadow);

  it('has the four charts, with our rows and SHADOW rows on the same axes (a source field)', () => {
    expect(Object.keys(specs).sort()).toEqual(['downtime', 'phases', 'replay-depth', 'total']);
    const values = (k: string) => (specs[k] as { data: { values: Array<{ source: string }> } }).data.values;
    for (const k of ['phases', 'total', 'downtime']) {
      expect(new Set(values(k).map((v) => v.source))).toEqual(new Set(['ms2m', 'shadow']));
    }
    expect(values('replay-depth')).toHaveLength(9);
  });

  it('renders each to SVG through Vega-Lite and Vega (headless view)', async () => {
    const svg = await renderSvg(specs.total!);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Total migration time vs message rate');
    expect(svg).toContain('statefulset-shadowpod');
    expect(svg).toContain('shadow');
    const phases = await renderSvg(specs.phases!);
    for (const p of ['Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing'])
      expect(phases).toContain(p);
  });
});

describe('the replay-depth chart of a big log', () => {
  it('draws at most 40 migrations, evenly spaced, and says so', () => {
    const [base] = shadow;
    const many: MigrationRecord[] = Array.from({ length: 100 }, (_, i) => ({
      ...base!,
      source: 'ms2m',
      migration: `default/m${i}`,
      depth: [{ offsetMs: 0, depth: i }],
    }));
    const spec = chartSpecs(many, aggregate(many))['replay-depth'] as {
      title: string;
      data: { values: Array<{ migration: string }> };
    };
    expect(spec.data.values).toHaveLength(40);
    expect(spec.data.values[1]!.migration).toBe('default/m2');
    expect(spec.title).toMatch(/40 of 100 migrations/);
  });
});
