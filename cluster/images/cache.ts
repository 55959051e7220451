/**
 * The image build cache: content-addressed blobs plus records that map a digest of a build's inputs to its
 * result, so a build whose inputs have not changed reuses what an earlier one produced.
 *
 *   <dir>/blobs/sha256/<hex>      layers, configs and manifests, named by their own digest
 *   <dir>/keys/<kind>-<hex>.json  a layer's or image's result, named by the digest of its inputs
 *
 * Every file appears by rename (temp file in the same directory), so a killed build never leaves a blob whose
 * name lies about its content or a half-written record. Concurrent builds of the same inputs write the same
 * bytes; the last rename wins.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../adapters/file-log/atomic-file.ts';
import { type Digested, digestBytes, isSha256Digest } from '../../adapters/oci/digest.ts';

/**
 * `${MS2M_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ms2m}/images`
 *
 * @example
 * ```ts
 * const cache = new ImageCache(defaultImageCacheDir());
 * ```
 */
export function defaultImageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.MS2M_CACHE || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'ms2m');
  return join(root, 'images');
}

export type CacheRecordKind = 'layer' | 'image';

/**
 * Content-addressed blobs and input-keyed records on disk (see the file comment for the layout).
 *
 * @example
 * ```ts
 * const cache = new ImageCache('/tmp/images');
 * const { digest } = await cache.putBytes(Buffer.from('{}'));
 * await cache.writeRecord('image', 'ab12...', { manifest: digest });
 * ```
 */
export class ImageCache {
  readonly blobDir: string;
  private readonly keyDir: string;

  constructor(readonly dir: string) {
    this.blobDir = join(dir, 'blobs', 'sha256');
    this.keyDir = join(dir, 'keys');
    mkdirSync(this.blobDir, { recursive: true });
    mkdirSync(this.keyDir, { recursive: true });
  }

  blobPath(digest: string): string {
    if (!isSha256Digest(digest)) throw new Error(`Not a sha256 digest: ${digest}`);
    return join(this.blobDir, digest.slice('sha256:'.length));
  }

  /** True when the blob is present with the expected size (a size check, not a re-hash: blobs appear by rename). */
  async hasBlob(digest: string, size: number): Promise<boolean> {
    const s = await stat(this.blobPath(digest)).catch(() => null);
    return s?.isFile() === true && s.size === size;
  }

  readBlob(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  /** A fresh temp path inside the blob directory (same filesystem, so {@link commitBlob} is a rename). */
  tempPath(): string {
    return join(this.blobDir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Renames a fully written temp file to the blob name of `digest`. */
  async commitBlob(tmp: string, digest: string): Promise<void> {
    try {
      await rename(tmp, this.blobPath(digest));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Stores a small blob (config, manifest) by its digest. */
  async putBytes(bytes: Buffer): Promise<Digested> {
    const d = digestBytes(bytes);
    if (!(await this.hasBlob(d.digest, d.size))) await writeFileAtomic(this.blobPath(d.digest), bytes, { sync: false });
    return d;
  }

  async readRecord<T>(kind: CacheRecordKind, key: string): Promise<T | null> {
    try {
      return JSON.parse(await readFile(this.recordPath(kind, key), 'utf8')) as T;
    } catch {
      return null;
    }
  }

  async writeRecord(kind: CacheRecordKind, key: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.recordPath(kind, key), `${JSON.stringify(value, null, 2)}\n`, { sync: false });
  }

  private recordPath(kind: CacheRecordKind, key: string): string {
    if (!/^[a-f0-9]{64}$/.test(key)) throw new Error(`Not a cache key: ${key}`);
    return join(this.keyDir, `${kind}-${key}.json`);
  }
}
