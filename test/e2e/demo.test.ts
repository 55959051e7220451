import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../bin/demo.ts';

// The README's main command, end to end: real processes, the embedded log on disk, a real SIGKILL.
const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'ms2m-demo-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ms2m = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin/ms2m.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 170_000,
  });

describe('ms2m demo', () => {
  it('migrates with each strategy, survives SIGKILL mid-run, and the timeline reads the log back', () => {
    const run = ms2m('demo', '--dir', dir);
    expect(run.stderr).not.toMatch(/"level":50/); // no error log lines
    expect(run.status).toBe(0);
    const out = run.stdout;
    expect(out.match(/^ {2}Completed: total=/gm)).toHaveLength(4);
    expect(out).toContain('Completed      SourceReleased'); // Deployment: the ReplicaSet removed the source
    expect(out).toContain('Completed      SourcePodDeleted');
    expect(out).toContain('Completed      StatefulSetRestored');
    expect(out).toMatch(/killed pid \d+ with SIGKILL right after SourceScaledDown/);
    expect(out).toMatch(/resumed from the log at seq \d+ \(phase Restoring\)/);
    expect(out).toContain('All migrations completed.');

    // the demo owns the directory (marker) and left only its own files: no temp, lock or torn leftovers
    expect(readdirSync(dir).sort()).toEqual([
      '.ms2m-demo',
      'log',
      ...Object.keys(SCENARIOS)
        .map((n) => `world-${n}.json`)
        .sort(),
    ]);
    for (const n of Object.keys(SCENARIOS)) JSON.parse(readFileSync(join(dir, `world-${n}.json`), 'utf8'));
    const logs = readdirSync(join(dir, 'log')).sort();
    expect(logs).toEqual(
      [
        'sequential-crash',
        'sequential-statefulset',
        'shadowpod-deployment-registry',
        'shadowpod-pod-direct-cutoff',
      ].map((n) => `StatefulMigration@default%2F${n}.jsonl`),
    );
    const timeline = ms2m('timeline', '--log', join(dir, 'log'), '--id', 'default/sequential-crash');
    expect(timeline.status).toBe(0);
    expect(timeline.stdout).toMatch(/SourceScaledDown[\s\S]*SourcePodGone[\s\S]*Completed: total=/);
    const status = ms2m('status', '--log', join(dir, 'log'), '--id', 'default/shadowpod-pod-direct-cutoff');
    expect(JSON.parse(status.stdout)).toMatchObject({ phase: 'Completed', cutoff: { seconds: 8, computed: false } });
    const all = ms2m('status', '--log', join(dir, 'log'), '-o', 'json');
    expect(Object.values(JSON.parse(all.stdout)).map((s) => (s as { phase: string }).phase)).toEqual([
      'Completed',
      'Completed',
      'Completed',
      'Completed',
    ]);
  });
});
