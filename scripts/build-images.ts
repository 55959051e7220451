/**
 * Builds every image the local cluster needs (pause, node runtime, workloads, operator, agent) as OCI images,
 * cached by content, and pushes them to a registry (cluster/images/, cluster/README.md "Images").
 *
 *   npx tsx scripts/build-images.ts --registry 127.0.0.1:5000 [--only agent,operator]
 *
 * Progress goes to stderr; the references with digests go to stdout as JSON:
 *   {"agent": {"ref": "127.0.0.1:5000/ms2m/agent:1f2e3d4c5b6a", "digest": "sha256:..."}, ...}
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { buildAndPushImages, buildImages } from '../cluster/images/build.ts';
import { IMAGE_NAMES } from '../cluster/images/recipes.ts';

export { buildAndPushImages, buildImages };

async function main(argv: string[]): Promise<void> {
  const program = new Command('build-images')
    .description('Build the local cluster images (cached by content) and push them to a registry')
    .requiredOption('--registry <host:port>', 'registry to push to, e.g. 127.0.0.1:5000')
    .option('--only <names>', `comma-separated subset of: ${IMAGE_NAMES.join(', ')}`)
    .option('--tls', 'use https to the registry (default: plain http, as the local registry serves)')
    .option(
      '--cache-dir <dir>',
      'image cache (default: $MS2M_CACHE/images, else $XDG_CACHE_HOME/ms2m/images, else ~/.cache/ms2m/images)',
    )
    .option('--ctr <path>', 'static ctr for the agent image (default: from cluster/build.sh --nodes)')
    .option('--node <path>', 'node binary for the images (default: the one running this script)')
    .parse(argv);
  const o = program.opts<{
    registry: string;
    only?: string;
    tls?: boolean;
    cacheDir?: string;
    ctr?: string;
    node?: string;
  }>();
  const started = performance.now();
  const images = await buildAndPushImages({
    registry: o.registry,
    only: o.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    insecure: !o.tls,
    cacheDir: o.cacheDir,
    ctrPath: o.ctr,
    nodeBinary: o.node,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(`done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
}

const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === fileURLToPath(import.meta.url)) {
  main(process.argv).catch((err: unknown) => {
    process.stderr.write(`build-images: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
