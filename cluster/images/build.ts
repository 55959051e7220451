/**
 * Builds the local cluster's images (cluster/images/recipes.ts) into the cache and pushes them to a registry,
 * each under a tag that is the first 12 hex digits of its manifest digest plus the moving tag `latest`.
 */
import { fileURLToPath } from 'node:url';
import { defaultImageCacheDir, ImageCache } from './cache.ts';
import { ImageBuildError } from './errors.ts';
import { buildImage } from './image.ts';
import { ImagePusher, type PushStats } from './push.ts';
import { type EntryName, formatBytes, IMAGE_NAMES, type ImageName, ImageRecipes } from './recipes.ts';

export interface BuildImagesOptions {
  /** `host:port` of the registry (`127.0.0.1:5000`). */
  registry: string;
  /** Short names (`pause`, `node`, `workloads`, `operator`, `agent`); default all. */
  only?: readonly string[];
  /** Progress lines; default none. */
  log?: (line: string) => void;
  /** Default `${MS2M_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ms2m}/images`. */
  cacheDir?: string;
  /** Plain http to the registry (the local cluster's registry). Default true. */
  insecure?: boolean;
  /** The node binary put into the images. Default: the running node. */
  nodeBinary?: string;
  /** A static ctr for the agent image. Default: from the cache of `cluster/build.sh --nodes`. */
  ctrPath?: string;
  /** Other entry points, relative to the repo root (tests use their own small workload). */
  entries?: Partial<Record<EntryName, string>>;
}

export interface ImageReport {
  /** `<registry>/ms2m/<name>:<short digest>` */
  ref: string;
  /** Manifest digest. */
  digest: string;
  tags: string[];
  /** Sum of the layer sizes. */
  size: number;
  /** `cached`: every input unchanged since an earlier build; `built`: at least one layer was written. */
  build: 'cached' | 'built';
  push: PushStats;
  buildSeconds: number;
  pushSeconds: number;
}

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Validates `only` against the known images, in the canonical order. */
export function selectImages(only?: readonly string[]): ImageName[] {
  if (!only?.length) return [...IMAGE_NAMES];
  const unknown = only.filter((n) => !(IMAGE_NAMES as readonly string[]).includes(n));
  if (unknown.length)
    throw new ImageBuildError('invalid', unknown.join(', '), `unknown image; known: ${IMAGE_NAMES.join(', ')}`);
  return IMAGE_NAMES.filter((n) => only.includes(n));
}

/**
 * Builds and pushes the selected images; returns a full report per image (build and push counts, sizes, times).
 *
 * @example
 * ```ts
 * const r = await buildImages({ registry: '127.0.0.1:5000', only: ['pause'] });
 * r.pause?.build; // 'cached' on a second run
 * ```
 */
export async function buildImages(opts: BuildImagesOptions): Promise<Partial<Record<ImageName, ImageReport>>> {
  const names = selectImages(opts.only);
  const log = opts.log ?? (() => undefined);
  const cache = new ImageCache(opts.cacheDir ?? defaultImageCacheDir());
  const recipes = new ImageRecipes({
    root: REPO_ROOT,
    nodeBinary: opts.nodeBinary,
    ctrPath: opts.ctrPath,
    entries: opts.entries,
    log,
  });
  const pusher = new ImagePusher(cache, opts.registry, { insecure: opts.insecure ?? true }, 'ms2m/node');
  const out: Partial<Record<ImageName, ImageReport>> = {};
  for (const name of names) {
    const t0 = performance.now();
    const img = await buildImage(cache, await recipes.spec(name));
    const t1 = performance.now();
    const build = img.cached ? 'cached' : 'built';
    log(
      `${img.name}: ${build} ${formatBytes(img.size)} in ${img.layers.length} layer(s) ` +
        `[${img.layers.map((l) => `${formatBytes(l.size)}${l.cached ? ' cached' : ''}`).join(', ')}] ` +
        `in ${seconds(t1 - t0)} s`,
    );
    const tags = [img.digest.slice('sha256:'.length, 'sha256:'.length + 12), 'latest'];
    const pushed = await pusher.push(img, tags);
    const t2 = performance.now();
    const { ref, digest, ...push } = pushed;
    log(
      `${img.name}: ${push.tagsPut.length ? `pushed tags ${push.tagsPut.join(', ')}` : 'already in the registry'}` +
        ` (blobs: ${push.uploaded} uploaded ${formatBytes(push.uploadedBytes)}, ${push.mounted} mounted,` +
        ` ${push.present} present) in ${seconds(t2 - t1)} s`,
    );
    out[name] = {
      ref,
      digest,
      tags,
      size: img.size,
      build,
      push,
      buildSeconds: Number(seconds(t1 - t0)),
      pushSeconds: Number(seconds(t2 - t1)),
    };
  }
  return out;
}

/**
 * Builds the selected images (all by default) and pushes them; returns `{ref, digest}` per short name, for the
 * cluster scripts.
 *
 * @example
 * ```ts
 * const images = await buildAndPushImages({ registry: '127.0.0.1:5000', only: ['agent', 'operator'] });
 * images.agent?.ref; // 127.0.0.1:5000/ms2m/agent:1f2e3d4c5b6a
 * ```
 */
export async function buildAndPushImages(
  opts: BuildImagesOptions,
): Promise<Record<string, { ref: string; digest: string }>> {
  const r = await buildImages(opts);
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, { ref: v.ref, digest: v.digest }]));
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
