import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SHADOW_EVAL_DIR } from '../../../eval/reference/shadow-eval.ts';
import { EXPECTED_AGGREGATE, EXPECTED_CSV, LOG_DIR } from './generate.ts';

// `ms2m analyze` through its real entry point (bin/ms2m.ts as a process), on the committed log set.
const repoRoot = join(import.meta.dirname, '..', '..', '..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const SHADOW = SHADOW_EVAL_DIR;
const out = mkdtempSync(join(tmpdir(), 'ms2m-analyze-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function ms2m(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, join(repoRoot, 'bin/ms2m.ts'), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const listing = () => readdirSync(LOG_DIR).map((f) => `${f} ${statSync(join(LOG_DIR, f)).mtimeMs}`);

describe('ms2m analyze (real entry point)', () => {
  it('--csv - prints the golden CSV; --aggregate writes the golden aggregate; the log is untouched', async () => {
    const before = listing();
    const agg = join(out, 'aggregate.csv');
    const r = await ms2m(['analyze', '--log', LOG_DIR, '--csv', '-', '--aggregate', agg]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(EXPECTED_CSV, 'utf8'));
    expect(readFileSync(agg, 'utf8')).toBe(readFileSync(EXPECTED_AGGREGATE, 'utf8'));
    expect(listing()).toEqual(before);
  }, 70_000);

  it("--charts with --shadow writes four SVGs and their specs, SHADOW's runs on the same axes; -o json is one document", async () => {
    const charts = join(out, 'charts');
    const file = join(SHADOW, 'migration-metrics-statefulset-sequential-20260316-010528.csv');
    const r = await ms2m(['analyze', '--log', LOG_DIR, '--shadow', file, '--charts', charts, '-o', 'json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      migrations: number;
      shadowRuns: number;
      written: string[];
      aggregates: unknown[];
    };
    expect(doc).toMatchObject({ migrations: 19, shadowRuns: 70 });
    expect(readdirSync(charts).sort()).toEqual(
      ['downtime', 'phases', 'replay-depth', 'total'].flatMap((n) => [`${n}.svg`, `${n}.vl.json`]).sort(),
    );
    const total = readFileSync(join(charts, 'total.svg'), 'utf8');
    expect(total.startsWith('<svg')).toBe(true);
    expect(total).toContain('statefulset-sequential');
    const spec = JSON.parse(readFileSync(join(charts, 'total.vl.json'), 'utf8')) as {
      data: { values: Array<{ source: string }> };
    };
    expect(new Set(spec.data.values.map((v) => v.source))).toEqual(new Set(['ms2m', 'shadow']));
  }, 70_000);

  it('text summary and filters; wrong usage exits 2 and a missing log exits 1, each with one line', async () => {
    const r = await ms2m(['analyze', '--log', LOG_DIR, '--configuration', 'statefulset-sequential']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`4 migration(s) from ${LOG_DIR}`);
    expect(r.stdout).toMatch(/ms2m\s+statefulset-sequential\s+10\s+2\s+2\s+0\s+6\.339s/);
    const bad = await ms2m(['analyze', '--log', LOG_DIR, '--label', 'nolabel']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/--label needs key=value/);
    const missing = await ms2m(['analyze', '--log', join(out, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  }, 120_000);
});
