/**
 * An image from layers and a run configuration: the OCI image config and manifest (no timestamps, no history,
 * keys in a fixed order), stored in the cache and recorded under a digest of the image's inputs.
 */
import { createHash } from 'node:crypto';
import {
  type DescriptorWire,
  type ImageConfigWire,
  type ManifestWire,
  MEDIA_CONFIG,
  MEDIA_MANIFEST,
} from '../../adapters/oci/oci.wire.ts';
import type { ImageCache } from './cache.ts';
import { type BuiltLayer, buildLayer, type LayerSpec } from './layer.ts';

/** How a container of the image runs (the OCI config's `config` fields this project uses). */
export interface ImageRunConfig {
  entrypoint?: string[];
  cmd?: string[];
  /** `NAME=value` pairs, in order. */
  env?: string[];
  workingDir?: string;
  /** `uid[:gid]` or a name from the image's /etc/passwd. */
  user?: string;
  labels?: Record<string, string>;
}

export interface ImageSpec {
  /** Repository name without registry (`ms2m/pause`). */
  name: string;
  layers: readonly LayerSpec[];
  config: ImageRunConfig;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  name: string;
  /** Digest of the manifest: what a pull by digest names. */
  digest: string;
  manifest: { descriptor: DescriptorWire; bytes: Buffer };
  config: { descriptor: DescriptorWire; bytes: Buffer };
  layers: BuiltLayer[];
  /** Sum of the layer blob sizes (what a node pulls). */
  size: number;
  /** Digest of the image's inputs (its cache key). */
  key: string;
  /** True when every layer and the image record came from the cache. */
  cached: boolean;
}

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' };

/** The OCI image config JSON for `layers` run as `run` (deterministic: no `created`, no history). */
export function imageConfig(layers: readonly BuiltLayer[], run: ImageRunConfig, arch = process.arch): Buffer {
  const config: Record<string, unknown> = {};
  if (run.user !== undefined) config.User = run.user;
  if (run.env?.length) config.Env = [...run.env];
  if (run.entrypoint) config.Entrypoint = [...run.entrypoint];
  if (run.cmd) config.Cmd = [...run.cmd];
  if (run.workingDir !== undefined) config.WorkingDir = run.workingDir;
  if (run.labels && Object.keys(run.labels).length) config.Labels = sortedObject(run.labels);
  const wire: ImageConfigWire = {
    architecture: GO_ARCH[arch] ?? arch,
    os: 'linux',
    config,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  return Buffer.from(JSON.stringify(wire));
}

/** The OCI image manifest JSON for a config blob and layers. */
export function imageManifest(
  config: DescriptorWire,
  layers: readonly BuiltLayer[],
  annotations?: Record<string, string>,
): Buffer {
  const wire: ManifestWire = {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    config,
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(annotations && Object.keys(annotations).length ? { annotations: sortedObject(annotations) } : {}),
  };
  return Buffer.from(JSON.stringify(wire));
}

/**
 * Builds the image's layers (each reused from the cache when its inputs are unchanged), then its config and
 * manifest, all stored in the cache. The same spec gives the same manifest digest on any machine.
 *
 * @example
 * ```ts
 * const img = await buildImage(cache, { name: 'ms2m/pause', layers: [pauseLayer], config: { entrypoint: ['/pause'] } });
 * img.digest; // sha256:... of the manifest
 * ```
 */
export async function buildImage(cache: ImageCache, spec: ImageSpec): Promise<BuiltImage> {
  const layers: BuiltLayer[] = [];
  for (const l of spec.layers) layers.push(await buildLayer(cache, l));
  const configBytes = imageConfig(layers, spec.config);
  const key = createHash('sha256')
    .update(JSON.stringify({ layers: layers.map((l) => l.key), config: configBytes.toString(), a: spec.annotations }))
    .digest('hex');
  const hit = await cache.readRecord<{ digest: string; size: number }>('image', key);
  const config = { mediaType: MEDIA_CONFIG, ...(await cache.putBytes(configBytes)) };
  const manifestBytes = imageManifest(config, layers, spec.annotations);
  const manifest = { mediaType: MEDIA_MANIFEST, ...(await cache.putBytes(manifestBytes)) };
  const cached = hit?.digest === manifest.digest && layers.every((l) => l.cached);
  if (!cached) await cache.writeRecord('image', key, { name: spec.name, digest: manifest.digest, size: manifest.size });
  return {
    name: spec.name,
    digest: manifest.digest,
    manifest: { descriptor: manifest, bytes: manifestBytes },
    config: { descriptor: config, bytes: configBytes },
    layers,
    size: layers.reduce((n, l) => n + l.size, 0),
    key,
    cached,
  };
}

function sortedObject(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
