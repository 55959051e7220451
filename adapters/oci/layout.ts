import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkpointImage } from './checkpoint-image.ts';
import { type IndexWire, MEDIA_INDEX, MEDIA_MANIFEST, type OciLayoutWire, REF_NAME_ANNOTATION } from './oci.wire.ts';

export interface WriteLayoutRequest {
  /** Layout directory (created if missing; other images in its index.json are kept). */
  dir: string;
  container: string;
  tarPath: string;
  /** Tag stored as `org.opencontainers.image.ref.name` (skopeo `oci:<dir>:<tag>`). Default `latest`. */
  tag?: string;
  /** Known digest of tarPath: then the tar is hard-linked (or moved, with `move`) instead of copied. */
  digest?: string;
  size?: number;
  move?: boolean;
}

export interface LayoutImage {
  dir: string;
  tag: string;
  manifestDigest: string;
  layerDigest: string;
  bytes: number;
}

/**
 * Writes the checkpoint image (same blobs as the registry push) as an OCI image layout on disk: `oci-layout`,
 * `index.json`, `blobs/sha256/...`. Blobs are written to temp names, fsynced and renamed, so a crash never
 * leaves a blob whose name lies about its content.
 *
 * @example
 * ```ts
 * const img = await writeCheckpointLayout({ dir: '/var/lib/ms2m/oci', container: 'app', tarPath: '/tmp/c.tar', tag: 'app' });
 * // skopeo copy oci:/var/lib/ms2m/oci:app containers-storage:localhost/checkpoint/app:latest
 * ```
 */
export async function writeCheckpointLayout(req: WriteLayoutRequest): Promise<LayoutImage> {
  const tag = req.tag ?? 'latest';
  const blobs = join(req.dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  let digest = req.digest;
  let size = req.size;
  if (digest && size !== undefined) {
    await placeKnown(req.tarPath, join(blobs, digest.slice(7)), Boolean(req.move));
  } else {
    const tmp = join(blobs, `.tmp-${randomUUID()}`);
    const h = createHash('sha256');
    let n = 0;
    try {
      await pipeline(
        createReadStream(req.tarPath, { highWaterMark: 1 << 20 }),
        new Transform({
          transform(c: Buffer, _e, cb) {
            h.update(c);
            n += c.length;
            cb(null, c);
          },
        }),
        createWriteStream(tmp),
      );
      await fsyncPath(tmp);
      digest = `sha256:${h.digest('hex')}`;
      size = n;
      await rename(tmp, join(blobs, digest.slice(7)));
    } finally {
      await rm(tmp, { force: true });
    }
  }
  const img = checkpointImage({ container: req.container, layerDigest: digest, layerSize: size as number });
  await writeBlob(blobs, img.config.descriptor.digest, img.config.bytes);
  await writeBlob(blobs, img.manifest.descriptor.digest, img.manifest.bytes);
  const layoutFile: OciLayoutWire = { imageLayoutVersion: '1.0.0' };
  await writeAtomic(join(req.dir, 'oci-layout'), Buffer.from(JSON.stringify(layoutFile)));
  let index: IndexWire = { schemaVersion: 2, mediaType: MEDIA_INDEX, manifests: [] };
  try {
    index = JSON.parse(await readFile(join(req.dir, 'index.json'), 'utf8')) as IndexWire;
  } catch {
    /* new layout */
  }
  index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag);
  index.manifests.push({
    ...img.manifest.descriptor,
    mediaType: MEDIA_MANIFEST,
    annotations: { [REF_NAME_ANNOTATION]: tag },
  });
  await writeAtomic(join(req.dir, 'index.json'), Buffer.from(JSON.stringify(index)));
  return {
    dir: req.dir,
    tag,
    manifestDigest: img.manifest.descriptor.digest,
    layerDigest: digest,
    bytes: size as number,
  };
}

async function placeKnown(src: string, dst: string, move: boolean): Promise<void> {
  if (
    await stat(dst).then(
      () => true,
      () => false,
    )
  ) {
    if (move) await rm(src, { force: true });
    return;
  }
  if (move) return rename(src, dst);
  try {
    await link(src, dst);
  } catch {
    const tmp = `${dst}.tmp-${randomUUID()}`;
    try {
      await pipeline(createReadStream(src, { highWaterMark: 1 << 20 }), createWriteStream(tmp));
      await fsyncPath(tmp);
      await rename(tmp, dst);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

async function writeBlob(blobs: string, digest: string, bytes: Buffer): Promise<void> {
  const p = join(blobs, digest.slice(7));
  if (
    await stat(p).then(
      () => true,
      () => false,
    )
  )
    return;
  await writeAtomic(p, bytes);
}

async function writeAtomic(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${randomUUID()}`;
  try {
    await writeFile(tmp, bytes);
    await fsyncPath(tmp);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
