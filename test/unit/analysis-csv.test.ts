import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGoDuration } from '../../actors/go-duration.ts';
import { ErrorCode } from '../../adapters/errors.ts';
import {
  type MigrationRecord,
  MS2M_COLUMNS,
  parseShadowCsv,
  readShadowCsv,
  SHADOW_COLUMNS,
  toShadowCsv,
} from '../../eval/analysis/index.ts';
import { parseCsv } from '../../eval/analysis/shadow-csv.ts';
import { SHADOW_EVAL_DIR } from '../../eval/reference/shadow-eval.ts';

// SHADOW's published evaluation results (eval/reference/shadow-eval): our CSV must be theirs, column for column.
const SHADOW_DIR = SHADOW_EVAL_DIR;
const files = readdirSync(SHADOW_DIR)
  .filter((f) => f.endsWith('.csv'))
  .sort();
const text = (f: string) => readFileSync(join(SHADOW_DIR, f), 'utf8');
const rowsOf = (csv: string) => parseCsv(csv).slice(1);

describe("SHADOW's CSV format", () => {
  it('reads every published file: 7 files of 70 runs, all Completed', async () => {
    expect(files).toHaveLength(7);
    const all = await readShadowCsv(SHADOW_DIR);
    expect(all).toHaveLength(490);
    expect(new Set(all.map((r) => r.status))).toEqual(new Set(['Completed']));
    expect(new Set(all.map((r) => r.configuration))).toEqual(
      new Set(['deployment-registry', 'statefulset-sequential', 'statefulset-shadowpod', 'statefulset-shadowpod-swap']),
    );
    expect(all.every((r) => r.source === 'shadow' && r.msgRate !== null && r.totalMs !== null)).toBe(true);
  });

  it.each(files)('%s written back: the same twelve columns, the same cells (totals without float noise)', (f) => {
    const theirs = text(f);
    const ours = toShadowCsv(parseShadowCsv(theirs, f));
    expect(ours.split('\n')[0]).toBe([...SHADOW_COLUMNS, ...MS2M_COLUMNS].join(','));
    expect(theirs.split('\n')[0]?.trim()).toBe(SHADOW_COLUMNS.join(','));
    const a = rowsOf(theirs);
    const b = rowsOf(ours);
    expect(b).toHaveLength(a.length);
    const changed: string[] = [];
    a.forEach((row, i) => {
      const mine = b[i]!;
      expect(mine).toHaveLength(SHADOW_COLUMNS.length + MS2M_COLUMNS.length);
      for (const [c, name] of SHADOW_COLUMNS.entries()) {
        if (name === 'total_time_s') {
          // SHADOW sums float seconds in Go map order (12.681000000000001s); ours is the exact sum
          expect(Math.abs(parseGoDuration(mine[c]!) - parseGoDuration(row[c]!))).toBeLessThan(1e-6);
          expect(mine[c]).toMatch(/^\d+(\.\d{1,3})?s$/);
        } else if (mine[c] !== row[c]) changed.push(`run ${row[0]} ${name}: ${row[c]} -> ${mine[c]}`);
      }
    });
    // rows SHADOW wrote in fixed-point seconds (`0.422s`, `120.502s`: 8 runs of one file) come back in Go's
    // format with the same value; every other cell is written exactly as SHADOW wrote it
    for (const c of changed) {
      const [, theirs, mine] = /: (\S+) -> (\S+)$/.exec(c)!;
      expect(theirs).toMatch(/^\d+\.\d{3}s$/);
      expect(parseGoDuration(mine!)).toBe(parseGoDuration(theirs!));
    }
    const runs = new Set(changed.map((c) => c.split(' ')[1]));
    expect([...runs]).toEqual(
      f === 'migration-metrics-deployment-registry-20260316-092946.csv'
        ? ['55', '58', '59', '60', '61', '62', '63', '65']
        : [],
    );
  });

  it('quotes cells with commas, quotes and line breaks (RFC 4180), and reads them back', () => {
    const [r] = parseShadowCsv(text(files[0]!), files[0]!);
    const record: MigrationRecord = {
      ...r!,
      source: 'ms2m',
      message: 'Step "x" failed, then\nretried',
      reason: 'StepFailed',
    };
    const rows = parseCsv(toShadowCsv([record]));
    expect(rows).toHaveLength(2);
    expect(rows[1]!.at(-1)).toBe('Step "x" failed, then\nretried');
    expect(rows[1]!.at(-2)).toBe('StepFailed');
  });

  it('leaves unknown values empty: no downtime measured, a phase never reached', () => {
    const [r] = parseShadowCsv(text(files[0]!), files[0]!);
    const record: MigrationRecord = {
      ...r!,
      downtimeMs: null,
      downProbes: null,
      status: 'Failed',
      phases: { ...r!.phases, restore: null, replay: null, finalize: null },
      totalMs: r!.phases.checkpoint! + r!.phases.transfer!,
    };
    const cells = parseCsv(toShadowCsv([record]))[1]!;
    expect(cells.slice(3, 12)).toEqual(['', '', '5.722s', '357ms', '5.365s', '', '', '', 'Failed']);
  });

  it('refuses a file that is not SHADOW CSV, and a bad duration, naming file, line and column', () => {
    expect(() => parseShadowCsv('a,b\n1,2\n', 'x.csv')).toThrow(/x\.csv line 1: is not a SHADOW evaluation CSV/);
    const bad = `${SHADOW_COLUMNS.join(',')}\n1,10,c,0,0,1s,1 sec,0s,0s,0s,0s,Completed\n`;
    try {
      parseShadowCsv(bad, 'y.csv');
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe(ErrorCode.INVALID_INPUT);
      expect((err as Error).message).toMatch(/y\.csv line 2 column checkpoint_s: '1 sec' is not a Go duration/);
    }
  });

  it('reads one file as well as a directory, and names a path that does not exist', async () => {
    expect(await readShadowCsv(join(SHADOW_DIR, files[0]!))).toHaveLength(70);
    await expect(readShadowCsv(join(SHADOW_DIR, 'nope'))).rejects.toThrow(/nope: not found/);
  });
});
