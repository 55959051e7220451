// `npm run bench -- push`: push one checkpoint tar to a local docker-registry with our Registry adapter vs
// `skopeo copy oci:<layout> docker://...` of the equivalent OCI layout, same run, fresh repositories each.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeCheckpointLayout } from '../adapters/oci/layout.ts';
import { ociRegistry } from '../adapters/oci/registry.ts';
import { writeRandomTar } from '../test/harness/agent.ts';
import { startRegistry } from '../test/harness/registry.ts';

const run = promisify(execFile);
const log = (m: string) => process.stderr.write(`[push] ${m}\n`);

export async function run_(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'ms2m-bench-push-'));
  let reg = await startRegistry();
  try {
    const tar = join(dir, 'checkpoint.tar');
    const bytes = 512 * 1024 * 1024;
    log(`writing a ${bytes / 1024 / 1024} MiB checkpoint tar`);
    await writeRandomTar(tar, bytes);
    const layout = join(dir, 'layout');
    await writeCheckpointLayout({ dir: layout, container: 'app', tarPath: tar, tag: 'app' });
    const registry = ociRegistry({ insecure: true });
    const ours = async (repo: string) => {
      const t = performance.now();
      await registry.pushCheckpointImage({ ref: `${reg.host}/${repo}:checkpoint`, container: 'app', tarPath: tar });
      return (performance.now() - t) / 1000;
    };
    const skopeo = async (repo: string) => {
      const t = performance.now();
      await run('skopeo', [
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        `oci:${layout}:app`,
        `docker://${reg.host}/${repo}:checkpoint`,
      ]);
      return (performance.now() - t) / 1000;
    };
    log('warm-up (page cache)');
    await ours('warm/ours');
    const rounds = 2;
    let oursTotal = 0;
    let skopeoTotal = 0;
    for (let i = 0; i < rounds; i++) {
      // a fresh registry per round: skopeo's blob-info cache would otherwise mount the blob from an earlier repo
      await reg.stop();
      reg = await startRegistry();
      const s = await skopeo(`bench/skopeo-${i}`);
      const o = await ours(`bench/ours-${i}`);
      log(`round ${i + 1}: ours ${o.toFixed(2)} s, skopeo ${s.toFixed(2)} s`);
      oursTotal += o;
      skopeoTotal += s;
    }
    return {
      ratio: Number((oursTotal / skopeoTotal).toFixed(3)),
      seconds: Number((oursTotal / rounds).toFixed(3)),
      skopeo_seconds: Number((skopeoTotal / rounds).toFixed(3)),
      bytes,
    };
  } finally {
    await reg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
export { run_ as run };
