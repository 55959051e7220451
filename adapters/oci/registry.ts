import { createReadStream } from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import { InvalidInputError } from '../errors.ts';
import { checkpointImage } from './checkpoint-image.ts';
import { digestStream, isSha256Digest } from './digest.ts';
import { RegistryError } from './errors.ts';
import { type DescriptorWire, MEDIA_INDEX, MEDIA_MANIFEST } from './oci.wire.ts';
import type { PushCheckpointImage, PushedImage, Registry } from './port.ts';
import { parseReference } from './reference.ts';
import { type RegistryHttpOptions, RegistrySession } from './registry-http.ts';

export interface OciRegistryOptions extends RegistryHttpOptions {
  /** Blobs larger than this are sent as chunked PATCHes of this size (file sources only). Default 512 MiB. */
  chunkBytes?: number;
}

/** Extends the port's request: a known digest/size skips the digest pre-pass (compatible extension). */
export interface PushCheckpointImageRequest extends PushCheckpointImage {
  digest?: string;
  size?: number;
}

const READ_HWM = 1 << 20;

/**
 * The OCI distribution registry adapter: pushes a checkpoint tar as a single-layer OCI image (HEAD blob first so
 * a re-push is a no-op; POST then PUT `?digest=`, or chunked PATCH for large blobs; digest from one streaming
 * pre-pass; manifest PUT last). Basic and bearer-token auth; https or insecure http.
 *
 * @example
 * ```ts
 * const reg = ociRegistry({ insecure: true });
 * const img = await reg.pushCheckpointImage({ ref: '127.0.0.1:5000/ckpt/myapp-0:checkpoint', container: 'app',
 *   tarPath: '/var/lib/kubelet/checkpoints/x.tar' }, (done, total) => console.log(done, total));
 * ```
 */
export function ociRegistry(opts: OciRegistryOptions = {}): Registry {
  const chunkBytes = opts.chunkBytes ?? 512 * 1024 * 1024;

  const session = (ref: string) => {
    const r = parseReference(ref);
    return { r, s: new RegistrySession(r.registry, r.repository, opts) };
  };

  async function manifestDigest(s: RegistrySession, repo: string, reference: string): Promise<string | null> {
    const res = await s.send({
      method: 'HEAD',
      url: `/v2/${repo}/manifests/${reference}`,
      headers: { Accept: `${MEDIA_MANIFEST}, ${MEDIA_INDEX}` },
    });
    if (res.status === 404) return null;
    if (res.status !== 200)
      throw new RegistryError(`HEAD manifest ${repo}:${reference} on ${s.registry}`, res.status, res.body);
    return String(res.headers['docker-content-digest'] ?? '');
  }

  async function pushBlob(
    s: RegistrySession,
    d: DescriptorWire,
    src: { bytes?: Buffer; open?: (range?: { start: number; end: number }) => Readable; ranged: boolean },
    progress?: (n: number) => void,
  ): Promise<void> {
    const repo = s.repository;
    const head = await s.send({ method: 'HEAD', url: `/v2/${repo}/blobs/${d.digest}` });
    if (head.status === 200) {
      progress?.(d.size);
      return;
    }
    if (head.status !== 404) throw new RegistryError(`HEAD blob ${d.digest} in ${repo}`, head.status, head.body);
    const post = await s.send({ method: 'POST', url: `/v2/${repo}/blobs/uploads/` });
    if (post.status !== 202 || !post.headers.location)
      throw new RegistryError(`Starting upload of ${d.digest} to ${repo}`, post.status, post.body);
    let location = String(post.headers.location);
    let sent = 0;
    const counted = (r: Readable) =>
      r.pipe(
        new Transform({
          transform(c: Buffer, _e, cb) {
            sent += c.length;
            progress?.(sent);
            cb(null, c);
          },
        }),
      );
    if (src.bytes || !src.ranged || d.size <= chunkBytes) {
      const put = await s.send({
        method: 'PUT',
        url: withDigest(location, d.digest),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(d.size) },
        body: () => {
          if (src.bytes) return src.bytes;
          sent = 0;
          return counted(src.open?.() as Readable);
        },
      });
      if (put.status !== 201) throw new RegistryError(`Uploading blob ${d.digest} to ${repo}`, put.status, put.body);
      if (src.bytes) progress?.(d.size);
      return;
    }
    for (let start = 0; start < d.size; start += chunkBytes) {
      const end = Math.min(d.size, start + chunkBytes) - 1;
      const patch = await s.send({
        method: 'PATCH',
        url: location,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(end - start + 1),
          'Content-Range': `${start}-${end}`,
        },
        body: () => {
          sent = start;
          return counted(src.open?.({ start, end }) as Readable);
        },
      });
      if (patch.status !== 202 || !patch.headers.location)
        throw new RegistryError(`Uploading chunk ${start}-${end} of ${d.digest} to ${repo}`, patch.status, patch.body);
      location = String(patch.headers.location);
    }
    const put = await s.send({ method: 'PUT', url: withDigest(location, d.digest) });
    if (put.status !== 201)
      throw new RegistryError(`Completing upload of ${d.digest} to ${repo}`, put.status, put.body);
  }

  return {
    async exists(ref) {
      const { r, s } = session(ref);
      try {
        return (await manifestDigest(s, r.repository, r.reference)) !== null;
      } finally {
        s.close();
      }
    },

    async pushCheckpointImage(req: PushCheckpointImageRequest, onProgress): Promise<PushedImage> {
      if (!req.tarPath && !req.open) throw new InvalidInputError(`Push of ${req.ref}`, 'needs tarPath or open');
      const tarPath = req.tarPath;
      const open = tarPath
        ? (range?: { start: number; end: number }) => createReadStream(tarPath, { highWaterMark: READ_HWM, ...range })
        : () => (req.open as () => Readable)();
      const known = req.digest && req.size !== undefined && isSha256Digest(req.digest);
      const { digest, size } = known
        ? { digest: req.digest as string, size: req.size as number }
        : await digestStream(open());
      const img = checkpointImage({ container: req.container, layerDigest: digest, layerSize: size });
      const { r, s } = session(req.ref);
      try {
        const result = {
          ref: req.ref,
          manifestDigest: img.manifest.descriptor.digest,
          layerDigest: digest,
          bytes: size,
        };
        if ((await manifestDigest(s, r.repository, r.reference)) === img.manifest.descriptor.digest) {
          onProgress?.(size, size);
          return result;
        }
        await pushBlob(s, img.config.descriptor, { bytes: img.config.bytes, ranged: false });
        await pushBlob(s, img.layer, { open, ranged: Boolean(tarPath) }, (n) => onProgress?.(n, size));
        const put = await s.send({
          method: 'PUT',
          url: `/v2/${r.repository}/manifests/${r.reference}`,
          headers: { 'Content-Type': MEDIA_MANIFEST },
          body: () => img.manifest.bytes,
        });
        if (put.status !== 201) throw new RegistryError(`PUT manifest ${req.ref}`, put.status, put.body);
        onProgress?.(size, size);
        return result;
      } finally {
        s.close();
      }
    },
  };
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}
