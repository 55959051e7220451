/**
 * Deterministic OCI layers from a list of files. The same entries give the same bytes, so the same digest, on
 * any machine: entries sorted by path, parent directories added, mtime 0, uid/gid 0, no user/group names, no
 * pax or GNU extensions (plain ustar headers), modes as given (or the source file's permission bits).
 *
 * Layers are uncompressed by default (`application/vnd.oci.image.layer.v1.tar`): the digest then depends on our
 * tar bytes alone (a gzip stream also depends on the zlib build that made it, which changes with Node
 * versions), it equals the layer's diff_id, no CPU goes into compressing ~100 MB of node binary on a 2-core
 * machine, and the local cluster pulls over loopback and veths where size costs nothing. containerd accepts
 * both; `compression: 'gzip'` is there for registries that are further away.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Header, type Pack } from 'tar-stream';
import { MEDIA_LAYER_TAR } from '../../adapters/oci/oci.wire.ts';
import type { ImageCache } from './cache.ts';
import { ImageBuildError } from './errors.ts';

/** Bump when the tar layout changes without a change to the inputs (it is part of every layer key). */
const LAYER_FORMAT = 1;
export const MEDIA_LAYER_TAR_GZIP = `${MEDIA_LAYER_TAR}+gzip`;

/** A regular file: its content from a file on disk (symlinks followed) or given bytes. */
export type LayerFile = { path: string; mode?: number } & (
  | { source: string; bytes?: never }
  | { bytes: Uint8Array | string; source?: never }
);
export interface LayerDirectory {
  path: string;
  type: 'directory';
  mode?: number;
}
export interface LayerSymlink {
  path: string;
  type: 'symlink';
  target: string;
}
/** One entry of a layer; `path` is absolute in the image (`/usr/bin/node`). */
export type LayerEntry = LayerFile | LayerDirectory | LayerSymlink;

export type LayerCompression = 'none' | 'gzip';

export interface LayerSpec {
  /** What the layer holds, for messages (`node runtime`, `operator bundle`). */
  name: string;
  entries: readonly LayerEntry[];
  compression?: LayerCompression;
  /** Runs before a layer is built (never on a cache hit): a smoke test of its content. */
  verify?: () => Promise<void>;
}

export interface BuiltLayer {
  mediaType: string;
  /** Digest and size of the blob as stored and pushed. */
  digest: string;
  size: number;
  /** Digest of the uncompressed tar (the image config's `rootfs.diff_ids`). */
  diffId: string;
  /** The digest of the layer's inputs (its cache key). */
  key: string;
  /** True when the result came from the cache. */
  cached: boolean;
}

/** An entry with everything that decides its tar bytes resolved. */
type Resolved =
  | { name: string; type: 'directory'; mode: number }
  | { name: string; type: 'symlink'; target: string }
  | { name: string; type: 'file'; mode: number; size: number; sha256: string; source?: string; bytes?: Buffer };

/**
 * Builds (or finds in the cache) the layer holding `spec.entries`. The cache key is a sha256 over the layer
 * format, the compression and every entry's path, type, mode and content digest; on a hit nothing is read
 * beyond hashing the sources.
 *
 * @example
 * ```ts
 * const layer = await buildLayer(cache, { name: 'pause', entries: [{ path: '/pause', source: '/tmp/pause', mode: 0o755 }] });
 * layer.digest; // sha256:... (the same for the same files, on any machine)
 * ```
 */
export async function buildLayer(cache: ImageCache, spec: LayerSpec): Promise<BuiltLayer> {
  const compression = spec.compression ?? 'none';
  const entries = await resolveEntries(spec);
  const key = layerKey(entries, compression);
  type Rec = Omit<BuiltLayer, 'cached' | 'key'>;
  const hit = await cache.readRecord<Rec>('layer', key);
  if (hit && (await cache.hasBlob(hit.digest, hit.size))) return { ...hit, key, cached: true };
  await spec.verify?.();
  const built = await writeLayer(cache, spec.name, entries, compression);
  await cache.writeRecord('layer', key, built);
  return { ...built, key, cached: false };
}

/** The cache key of a layer: sha256 over its resolved entries (hex, no prefix). */
function layerKey(entries: readonly Resolved[], compression: LayerCompression): string {
  const canon = entries.map((e) =>
    e.type === 'file'
      ? [e.name, 'file', e.mode, e.sha256]
      : e.type === 'directory'
        ? [e.name, 'directory', e.mode]
        : [e.name, 'symlink', e.target],
  );
  return createHash('sha256')
    .update(JSON.stringify({ format: LAYER_FORMAT, compression, entries: canon }))
    .digest('hex');
}

async function resolveEntries(spec: LayerSpec): Promise<Resolved[]> {
  const byName = new Map<string, Resolved>();
  for (const e of spec.entries) {
    const name = tarName(spec.name, e.path);
    if (byName.has(name)) throw new ImageBuildError('invalid', spec.name, `the layer lists ${e.path} twice`);
    byName.set(name, await resolveEntry(spec.name, name, e));
  }
  for (const name of [...byName.keys()]) {
    for (let dir = posix.dirname(name); dir !== '.'; dir = posix.dirname(dir)) {
      const there = byName.get(dir);
      if (there && there.type !== 'directory')
        throw new ImageBuildError('invalid', spec.name, `/${dir} is a ${there.type} but /${name} is inside it`);
      if (!there) byName.set(dir, { name: dir, type: 'directory', mode: 0o755 });
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function resolveEntry(layer: string, name: string, e: LayerEntry): Promise<Resolved> {
  if ('type' in e && e.type === 'directory') return { name, type: 'directory', mode: e.mode ?? 0o755 };
  if ('type' in e && e.type === 'symlink') return { name, type: 'symlink', target: e.target };
  const f = e as LayerFile;
  if (f.source !== undefined) {
    const s = await stat(f.source).catch((err: unknown) => {
      throw new ImageBuildError('missing', layer, `${f.source} (for ${f.path}) cannot be read`, undefined, err);
    });
    if (!s.isFile()) throw new ImageBuildError('invalid', layer, `${f.source} (for ${f.path}) is not a regular file`);
    return {
      name,
      type: 'file',
      mode: f.mode ?? s.mode & 0o7777,
      size: s.size,
      sha256: await hashFile(f.source, s),
      source: f.source,
    };
  }
  const bytes = Buffer.from(f.bytes as Uint8Array | string);
  return {
    name,
    type: 'file',
    mode: f.mode ?? 0o644,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes,
  };
}

/** `/usr/bin/node` -> `usr/bin/node`; refuses relative paths, `..` and empty parts. */
function tarName(layer: string, path: string): string {
  const parts = path.split('/');
  if (!path.startsWith('/') || parts.slice(1).some((p) => p === '' || p === '.' || p === '..'))
    throw new ImageBuildError('invalid', layer, `"${path}" is not a clean absolute path in the image`);
  const name = parts.slice(1).join('/');
  if (Buffer.byteLength(name) !== name.length || name.length > 100)
    throw new ImageBuildError('invalid', layer, `"${path}" must be ASCII and at most 100 characters (plain ustar)`);
  return name;
}

/** File digests of this process, by identity and change time: a file named by several layers is read once. */
const fileHashes = new Map<string, Promise<string>>();

function hashFile(path: string, s: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }) {
  const id = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  let h = fileHashes.get(id);
  if (!h) {
    h = (async () => {
      const hash = createHash('sha256');
      for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(c as Buffer);
      return hash.digest('hex');
    })();
    fileHashes.set(id, h);
    h.catch(() => fileHashes.delete(id));
  }
  return h;
}

/** A pass-through that hashes and counts what flows through it. */
function tap(): Transform & { digest(): { digest: string; size: number } } {
  const h = createHash('sha256');
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return Object.assign(t, { digest: () => ({ digest: `sha256:${h.digest('hex')}`, size }) });
}

async function writeLayer(
  cache: ImageCache,
  layer: string,
  entries: readonly Resolved[],
  compression: LayerCompression,
): Promise<Omit<BuiltLayer, 'cached' | 'key'>> {
  const tmp = cache.tempPath();
  const pack = tar.pack();
  const uncompressed = tap();
  const stored = tap();
  const out = createWriteStream(tmp);
  const written =
    compression === 'gzip'
      ? pipeline(pack, uncompressed, createGzip({ level: 9 }), stored, out)
      : pipeline(pack, uncompressed, stored, out);
  try {
    await Promise.all([addEntries(layer, pack, entries), written]);
    const d = stored.digest();
    await cache.commitBlob(tmp, d.digest);
    return {
      mediaType: compression === 'gzip' ? MEDIA_LAYER_TAR_GZIP : MEDIA_LAYER_TAR,
      digest: d.digest,
      size: d.size,
      diffId: uncompressed.digest().digest,
    };
  } catch (err) {
    pack.destroy(err as Error);
    await written.catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

const FIXED = { mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' };

async function addEntries(layer: string, pack: Pack, entries: readonly Resolved[]): Promise<void> {
  for (const e of entries) {
    if (e.type === 'directory') {
      await entryDone(pack, { ...FIXED, name: `${e.name}/`, type: 'directory', mode: e.mode });
    } else if (e.type === 'symlink') {
      await entryDone(pack, { ...FIXED, name: e.name, type: 'symlink', linkname: e.target, mode: 0o777 });
    } else if (e.bytes) {
      await entryDone(pack, { ...FIXED, name: e.name, type: 'file', mode: e.mode, size: e.size }, e.bytes);
    } else {
      const check = tap();
      const sink = pack.entry({ ...FIXED, name: e.name, type: 'file', mode: e.mode, size: e.size });
      await pipeline(
        createReadStream(e.source as string, { highWaterMark: 1 << 20 }),
        check,
        sink as unknown as Writable,
      );
      if (check.digest().digest !== `sha256:${e.sha256}`)
        throw new ImageBuildError(
          'failed',
          layer,
          `${e.source} changed while the layer was written (/${e.name})`,
          'run the build again',
        );
    }
  }
  pack.finalize();
}

function entryDone(pack: Pack, header: Partial<Header> & { name: string }, bytes?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (bytes) pack.entry(header, bytes, cb);
    else pack.entry(header, cb);
  });
}
