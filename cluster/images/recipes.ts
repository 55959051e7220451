/**
 * The images of the local cluster (ARCHITECTURE.md §6), all under `ms2m/`:
 *
 * | image | layers | runs |
 * |---|---|---|
 * | `ms2m/pause` | `/pause` (Kubernetes' pause.c, static) | `/pause` as 65535:65535 (as upstream's image) |
 * | `ms2m/node` | node runtime: `/usr/bin/node` + its shared libraries | `/usr/bin/node` |
 * | `ms2m/workloads` | node runtime, `/app/producer.mjs` + `/app/consumer.mjs` | `node /app/consumer.mjs` (args pick) |
 * | `ms2m/operator` | node runtime, `/app/operator.mjs` | `node /app/operator.mjs` as 65532 |
 * | `ms2m/agent` | node runtime, `/usr/local/bin/ctr`, `/app/agent.mjs` | `node /app/agent.mjs` as root |
 * | `ms2m/migrator` | Debian's rclone + libc, busybox-static, the VolumeResize scripts (migrator.ts) | `ms2m-migrate` as root |
 *
 * The node runtime layer is the same blob in every image, so a node pulls it once and the registry stores it once.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { type BundleCheck, bundleEntry, checkBundle } from './bundle.ts';
import { ImageBuildError } from './errors.ts';
import type { ImageSpec } from './image.ts';
import type { LayerSpec } from './layer.ts';
import { migratorImage } from './migrator.ts';
import { NODE_IN_IMAGE, NODE_PATH_ENV, NONROOT_UID, nodeRuntimeLayer } from './node-runtime.ts';
import { compilePause, findPauseSource } from './pause.ts';

const execFileP = promisify(execFile);

export const IMAGE_NAMES = ['pause', 'node', 'workloads', 'operator', 'agent', 'migrator'] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

/** Entry points, relative to the repo root. */
export const DEFAULT_ENTRIES = {
  producer: 'eval/workloads/producer.ts',
  consumer: 'eval/workloads/consumer.ts',
  operator: 'actors/controller/main.ts',
  agent: 'agent/main.ts',
} as const;
export type EntryName = keyof typeof DEFAULT_ENTRIES;

export interface RecipeOptions {
  /** The repo root (entry points and `cluster/` are found from here). */
  root: string;
  /** The node binary copied into the images and used to check the bundles. Default: the running node. */
  nodeBinary?: string;
  /** The static `ctr` for the agent. Default: found in the binary cache of `cluster/build.sh --nodes`. */
  ctrPath?: string;
  /** Other entry points (relative to `root`), e.g. a test's own small workload. */
  entries?: Partial<Record<EntryName, string>>;
  /** Progress lines (bundle sizes). */
  log?: (line: string) => void;
}

/** Builds image specs on demand; the node runtime layer is computed once and shared. */
export class ImageRecipes {
  private base: Promise<LayerSpec> | undefined;
  private readonly node: string;
  private ctr: string | undefined;

  constructor(private readonly opts: RecipeOptions) {
    this.node = opts.nodeBinary ?? process.execPath;
    this.ctr = opts.ctrPath;
  }

  async spec(name: ImageName): Promise<ImageSpec> {
    switch (name) {
      case 'pause':
        return this.pause();
      case 'node':
        return {
          name: 'ms2m/node',
          layers: [await this.nodeRuntime()],
          config: { entrypoint: [NODE_IN_IMAGE], env: [NODE_PATH_ENV], workingDir: '/' },
        };
      case 'workloads':
        return this.nodeApp('ms2m/workloads', ['producer', 'consumer'], {
          entrypoint: [NODE_IN_IMAGE],
          cmd: ['/app/consumer.mjs'],
        });
      case 'operator':
        return this.nodeApp('ms2m/operator', ['operator'], {
          entrypoint: [NODE_IN_IMAGE, '/app/operator.mjs'],
          user: `${NONROOT_UID}:${NONROOT_UID}`,
        });
      case 'agent':
        return this.nodeApp(
          'ms2m/agent',
          ['agent'],
          { entrypoint: [NODE_IN_IMAGE, '/app/agent.mjs'], user: '0:0' },
          await this.ctrLayer(),
        );
      case 'migrator':
        return migratorImage(this.opts.root);
    }
  }

  private nodeRuntime(): Promise<LayerSpec> {
    this.base ??= nodeRuntimeLayer(this.node);
    return this.base;
  }

  private async pause(): Promise<ImageSpec> {
    const src = await findPauseSource(join(this.opts.root, 'cluster', 'tools'));
    const bytes = await compilePause(src);
    this.opts.log?.(`ms2m/pause: compiled ${src.path} (${src.kubeVersion}), ${formatBytes(bytes.length)}`);
    return {
      name: 'ms2m/pause',
      layers: [{ name: 'pause', entries: [{ path: '/pause', bytes, mode: 0o755 }] }],
      config: { entrypoint: ['/pause'], user: '65535:65535' },
    };
  }

  private async nodeApp(
    image: string,
    bundles: EntryName[],
    run: { entrypoint: string[]; cmd?: string[]; user?: string },
    extra?: LayerSpec,
  ): Promise<ImageSpec> {
    const built: { name: EntryName; bytes: Buffer }[] = [];
    for (const name of bundles) {
      const entry = this.opts.entries?.[name] ?? DEFAULT_ENTRIES[name];
      const bytes = await bundleEntry({ root: this.opts.root, entry, image });
      this.opts.log?.(`${image}: bundled ${entry} -> /app/${name}.mjs, ${formatBytes(bytes.length)}`);
      built.push({ name, bytes });
    }
    const app: LayerSpec = {
      name: `${image} bundles`,
      entries: built.map((b) => ({ path: `/app/${b.name}.mjs`, bytes: b.bytes, mode: 0o644 })),
      verify: async () => {
        for (const b of built) await checkBundle({ image, bytes: b.bytes, node: this.node, check: this.check(b.name) });
      },
    };
    return {
      name: image,
      layers: [await this.nodeRuntime(), ...(extra ? [extra] : []), app],
      config: { ...run, env: [NODE_PATH_ENV, 'NODE_ENV=production'], workingDir: '/app' },
    };
  }

  /** How each bundle shows it starts. */
  private check(name: EntryName): BundleCheck {
    switch (name) {
      case 'producer':
      case 'consumer':
        return { args: ['--help'], ready: /usage/i, until: 'exit' };
      case 'operator':
        return { args: ['--help'], ready: /Usage: ms2m-operator/, until: 'exit' };
      case 'agent':
        return {
          args: [],
          env: {
            PATH: `${dirname(this.ctr ?? '/usr/local/bin/ctr')}:/usr/bin:/bin`,
            MS2M_AGENT_TOKEN: 'bundle-check',
            MS2M_AGENT_HOST: '127.0.0.1',
            MS2M_AGENT_PORT: '0',
            MS2M_AGENT_STORE: '$CHECK_DIR/store',
            MS2M_AGENT_CHECKPOINTS: '$CHECK_DIR/checkpoints',
            MS2M_AGENT_CONTAINERS_STORAGE: 'off',
            MS2M_AGENT_GC_MAX_AGE_MS: '0',
          },
          ready: /Agent listening/,
          until: 'signal',
        };
    }
  }

  private async ctrLayer(): Promise<LayerSpec> {
    const ctr = this.ctr ?? (await findCachedCtr(this.opts.root));
    this.ctr = ctr;
    return {
      name: 'ctr',
      entries: [{ path: '/usr/local/bin/ctr', source: ctr, mode: 0o755 }],
      verify: async () => {
        const { stdout } = await execFileP(ctr, ['--version'], { timeout: 10_000 }).catch((err: unknown) => {
          throw new ImageBuildError('failed', 'ms2m/agent', `${ctr} --version failed: ${String(err)}`, undefined, err);
        });
        if (!/^ctr /.test(stdout)) throw new ImageBuildError('failed', 'ms2m/agent', `${ctr} --version said ${stdout}`);
        const { stdout: file } = await execFileP('ldd', [ctr]).catch((e: { stdout?: string; stderr?: string }) => ({
          stdout: `${e.stdout ?? ''}${e.stderr ?? ''}`,
        }));
        if (!/not a dynamic executable|statically linked/.test(file))
          throw new ImageBuildError('invalid', 'ms2m/agent', `${ctr} is not static (the image has no libc for it)`);
      },
    };
  }
}

/** `ctr` from the cache dirs `cluster/build.sh --nodes --print-path` names. */
export async function findCachedCtr(root: string): Promise<string> {
  const script = join(root, 'cluster', 'build.sh');
  let dirs: string[];
  try {
    const { stdout } = await execFileP('bash', [script, '--nodes', '--print-path'], { timeout: 60_000 });
    dirs = stdout.trim().split(':').filter(Boolean);
  } catch (err) {
    throw new ImageBuildError('missing', 'ms2m/agent', `${script} --print-path failed: ${String(err)}`, undefined, err);
  }
  for (const d of dirs) {
    const p = join(d, 'ctr');
    if (
      await access(p, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return p;
  }
  throw new ImageBuildError(
    'missing',
    'ms2m/agent',
    `ctr not found in the binary cache (${dirs.join(', ')})`,
    'run `bash cluster/build.sh --nodes` first (about 4 min on 2 cores), or pass --ctr <path> to a static ctr',
  );
}

export function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
