/**
 * Writes a recorded golden log and its final snapshot (`<name>.jsonl`, `<name>.snapshot.json`), the one writer of
 * scripts/record-golden.ts and scripts/record-volume-resize-golden.ts: each file atomically, the snapshot
 * formatted by the repository's formatter (biome), so a recording is committed as `npm run lint` wants it.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../adapters/file-log/atomic-file.ts';

const repoRoot = join(import.meta.dirname, '..', '..');

/**
 * @example
 * ```ts
 * writeGolden('test/golden/logs', 'completed', envelopes, { value: final.value, context: final.context });
 * ```
 */
export function writeGolden(dir: string, name: string, envelopes: readonly unknown[], snapshot: unknown): void {
  writeFileAtomicSync(join(dir, `${name}.jsonl`), `${envelopes.map((e) => JSON.stringify(e)).join('\n')}\n`);
  const snapshotFile = join(dir, `${name}.snapshot.json`);
  writeFileAtomicSync(snapshotFile, `${JSON.stringify(snapshot, null, 2)}\n`);
  execFileSync(join(repoRoot, 'node_modules', '.bin', 'biome'), ['format', '--write', snapshotFile], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 60_000,
  });
}
