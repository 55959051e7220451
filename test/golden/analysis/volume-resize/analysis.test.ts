/**
 * `ms2m analyze --kind VolumeResize` on the committed VolumeResize log (generate.ts): the CSV equals the
 * reviewed expected.csv exactly, through the library and through the CLI; --since/--until window the resizes;
 * migration-only flags are a usage error; the log is untouched.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFileLogReader } from '../../../../adapters/file-log/file-log-reader.ts';
import { readVolumeResizeRecords, toVolumeResizeCsv } from '../../../../eval/analysis/index.ts';
import { runCliCapture } from '../../../support/cli-run.ts';
import { silent } from '../../../support/scenario.ts';
import { VR_EXPECTED_CSV, VR_LOG_DIR } from './generate.ts';

const ms2m = (...args: string[]) => runCliCapture(args);

const listing = () => readdirSync(VR_LOG_DIR).map((f) => `${f} ${statSync(join(VR_LOG_DIR, f)).mtimeMs}`);

describe('ms2m analyze --kind VolumeResize', () => {
  it('the records: one per resize with its outcome, reason, phases, claims and bytes', async () => {
    const reader = await openFileLogReader({ dir: VR_LOG_DIR, logger: silent });
    const records = await readVolumeResizeRecords(reader).finally(() => reader.close());
    expect(toVolumeResizeCsv(records)).toBe(readFileSync(VR_EXPECTED_CSV, 'utf8'));
    const by = Object.fromEntries(records.map((r) => [r.resize.split('/')[1], r]));
    expect(by['vr-completed']).toMatchObject({
      outcome: 'Completed',
      reason: 'Completed',
      claims: 4,
      claimsReplaced: 4,
      volumesResized: 2,
      replicasResized: 2,
      rolledBack: false,
    });
    expect(by['vr-completed']?.bytesCopied).toBe(2 * (100 + 10) * 1048576);
    expect(by['vr-dry-run']).toMatchObject({ outcome: 'Completed', reason: 'DryRun', dryRun: true, bytesCopied: 0 });
    expect(by['vr-rollback-after-rebind']).toMatchObject({
      outcome: 'Failed',
      reason: 'StepFailed',
      rolledBack: true,
      claimsReplaced: 0,
    });
    expect(by['vr-used-bytes-too-large']).toMatchObject({ outcome: 'Failed', reason: 'ValidationFailed' });
    expect(by['vr-used-bytes-too-large']?.phaseMs.Syncing).toBeUndefined();
  });

  it('--csv - prints the expected CSV; text lists each resize; -o json is one document; the log is untouched', async () => {
    const before = listing();
    const csv = await ms2m('analyze', '--log', VR_LOG_DIR, '--kind', 'VolumeResize', '--csv', '-');
    expect(csv).toEqual({ code: 0, stdout: readFileSync(VR_EXPECTED_CSV, 'utf8'), stderr: '' });
    const text = await ms2m('analyze', '--log', VR_LOG_DIR, '--kind', 'VolumeResize');
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`5 volume resize(s) from ${VR_LOG_DIR}`);
    expect(lines).toContain(
      '  default/vr-completed/vr-uid-1  Completed (Completed)  4/4 claims  230686720 bytes copied',
    );
    const json = JSON.parse(
      (await ms2m('analyze', '--log', VR_LOG_DIR, '--kind', 'VolumeResize', '-o', 'json')).stdout,
    );
    expect(json).toMatchObject({ source: VR_LOG_DIR, volumeResizes: 5, written: [] });
    expect(listing()).toEqual(before);
  });

  it('--since/--until window on the start time; migration-only flags and an unknown kind are usage errors', async () => {
    const after = await ms2m(
      'analyze',
      '--log',
      VR_LOG_DIR,
      '--kind',
      'VolumeResize',
      '--since',
      '2026-03-16T09:00:01Z',
    );
    expect(after.stdout).toBe(`0 volume resize(s) from ${VR_LOG_DIR}\n`);
    const inside = await ms2m(
      'analyze',
      '--log',
      VR_LOG_DIR,
      '--kind',
      'VolumeResize',
      '--until',
      '2026-03-16T09:00:01Z',
    );
    expect(inside.stdout.split('\n')[0]).toBe(`5 volume resize(s) from ${VR_LOG_DIR}`);
    const agg = await ms2m('analyze', '--log', VR_LOG_DIR, '--kind', 'VolumeResize', '--aggregate', '/tmp/x.csv');
    expect(agg.code).toBe(2);
    expect(agg.stderr).toContain('--aggregate is for migrations');
    const kind = await ms2m('analyze', '--log', VR_LOG_DIR, '--kind', 'Pod');
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain('--kind Pod is not a kind ms2m analyze reads');
  });
});
