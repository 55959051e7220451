/**
 * Generates the VolumeResize analysis log (run once; the output is committed): the golden VolumeResize logs of
 * ../../volume-resize/ (each a real run of the chart's host against the fake volumes: a completed resize, a dry
 * run, a crash mid-copy then resumed, a rollback after a rebind, a failed validation), each under its own name
 * and uid, copied into an embedded file log at `log/`, and the expected CSV of `ms2m analyze --kind VolumeResize`
 * (review its diff: the golden test compares against it exactly).
 *
 * Usage: npx tsx test/golden/analysis/volume-resize/generate.ts
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openFileLogReader } from '../../../../adapters/file-log/file-log-reader.ts';
import { readVolumeResizeRecords, toVolumeResizeCsv } from '../../../../eval/analysis/index.ts';
import { silent } from '../../../support/scenario.ts';

export const VR_LOG_DIR = join(import.meta.dirname, 'log');
export const VR_EXPECTED_CSV = join(import.meta.dirname, 'expected.csv');
const SOURCES = ['completed', 'dry-run', 'crash-mid-copy', 'rollback-after-rebind', 'used-bytes-too-large'];

async function main(): Promise<void> {
  await rm(VR_LOG_DIR, { recursive: true, force: true });
  await mkdir(VR_LOG_DIR, { recursive: true });
  for (const [i, source] of SOURCES.entries()) {
    const name = `vr-${source}`.slice(0, 40);
    const text = await readFile(join(import.meta.dirname, '../../volume-resize', `${source}.jsonl`), 'utf8');
    // one stream per resize: its own name and uid (the golden logs all use default/vr1/vr-uid-1)
    const renamed = text.replaceAll('vr-uid-1', `vr-uid-${i + 1}`).replace(/\bvr1\b/g, name);
    const id = `default/${name}/vr-uid-${i + 1}`;
    await writeFile(join(VR_LOG_DIR, `VolumeResize@${encodeURIComponent(id)}.jsonl`), renamed);
  }
  const reader = await openFileLogReader({ dir: VR_LOG_DIR, logger: silent });
  try {
    await writeFile(VR_EXPECTED_CSV, toVolumeResizeCsv(await readVolumeResizeRecords(reader)));
  } finally {
    await reader.close();
  }
}

if (process.argv[1] === import.meta.filename) await main();
