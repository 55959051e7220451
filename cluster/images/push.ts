/**
 * Pushes built images from the cache to a registry with the repo's registry client (`RegistrySession`: auth,
 * keep-alive, typed errors): HEAD each blob and skip it when the repository has it; else mount it from a
 * repository of the same registry known to hold it (the node runtime layer is shared by four images, so it is
 * uploaded once); else POST an upload and PUT it with `?digest=` (docker-registry 2.8 answers a single-POST
 * upload with 202). The manifest goes last, once per tag, only when the tag does not already name it.
 */
import { createReadStream } from 'node:fs';
import { RegistryError } from '../../adapters/oci/errors.ts';
import { MEDIA_INDEX, MEDIA_MANIFEST } from '../../adapters/oci/oci.wire.ts';
import { type RegistryHttpOptions, RegistrySession } from '../../adapters/oci/registry-http.ts';
import type { ImageCache } from './cache.ts';
import type { BuiltImage } from './image.ts';

export interface PushStats {
  /** Blobs the registry already had in the repository (HEAD 200). */
  present: number;
  /** Blobs mounted from another repository of the same registry (no bytes sent). */
  mounted: number;
  /** Blobs uploaded, and their bytes. */
  uploaded: number;
  uploadedBytes: number;
  /** Tags whose manifest was PUT (a tag that already named the manifest is left alone). */
  tagsPut: string[];
}

export interface PushedImage extends PushStats {
  /** `<registry>/<name>:<first tag>` */
  ref: string;
  digest: string;
}

/**
 * One registry, several images: remembers which repository holds which blob so later images mount instead of
 * uploading.
 *
 * @example
 * ```ts
 * const pusher = new ImagePusher(cache, '127.0.0.1:5000', { insecure: true });
 * const r = await pusher.push(img, ['0123456789ab', 'latest']);
 * r.ref; // 127.0.0.1:5000/ms2m/pause:0123456789ab
 * ```
 */
export class ImagePusher {
  private readonly holders = new Map<string, string>();

  /**
   * @param fallbackMount a repository to try mounting from when no repository is known to hold a blob (the
   *   shared base image from an earlier run): the registry answers 202 when it lacks the blob there, and that
   *   answer is a normal upload session, so the attempt costs no extra request.
   */
  constructor(
    private readonly cache: ImageCache,
    readonly registry: string,
    private readonly opts: RegistryHttpOptions,
    private readonly fallbackMount?: string,
  ) {}

  async push(image: BuiltImage, tags: readonly string[]): Promise<PushedImage> {
    const [first] = tags;
    if (!first) throw new Error(`Push of ${image.name} needs at least one tag`);
    const s = new RegistrySession(this.registry, image.name, this.opts);
    const stats: PushStats = { present: 0, mounted: 0, uploaded: 0, uploadedBytes: 0, tagsPut: [] };
    try {
      const missingTags: string[] = [];
      for (const t of tags) if ((await this.manifestDigest(s, t)) !== image.digest) missingTags.push(t);
      if (missingTags.length) {
        for (const b of [image.config.descriptor, ...image.layers]) await this.pushBlob(s, b.digest, b.size, stats);
        for (const t of missingTags) {
          const put = await s.send({
            method: 'PUT',
            url: `/v2/${image.name}/manifests/${t}`,
            headers: { 'Content-Type': MEDIA_MANIFEST },
            body: () => image.manifest.bytes,
          });
          if (put.status !== 201) throw new RegistryError(`PUT manifest ${image.name}:${t}`, put.status, put.body);
          const answered = String(put.headers['docker-content-digest'] ?? image.digest);
          if (answered !== image.digest)
            throw new RegistryError(
              `PUT manifest ${image.name}:${t}`,
              put.status,
              `registry stored ${answered}, expected ${image.digest}`,
            );
          stats.tagsPut.push(t);
        }
      } else {
        for (const b of [image.config.descriptor, ...image.layers]) this.holders.set(b.digest, image.name);
      }
      return { ref: `${this.registry}/${image.name}:${first}`, digest: image.digest, ...stats };
    } finally {
      s.close();
    }
  }

  private async manifestDigest(s: RegistrySession, tag: string): Promise<string | null> {
    const res = await s.send({
      method: 'HEAD',
      url: `/v2/${s.repository}/manifests/${tag}`,
      headers: { Accept: `${MEDIA_MANIFEST}, ${MEDIA_INDEX}` },
    });
    if (res.status === 404) return null;
    if (res.status !== 200)
      throw new RegistryError(`HEAD manifest ${s.repository}:${tag} on ${s.registry}`, res.status, res.body);
    return String(res.headers['docker-content-digest'] ?? '') || null;
  }

  private async pushBlob(s: RegistrySession, digest: string, size: number, stats: PushStats): Promise<void> {
    const repo = s.repository;
    const head = await s.send({ method: 'HEAD', url: `/v2/${repo}/blobs/${digest}` });
    if (head.status === 200) {
      stats.present++;
      this.holders.set(digest, repo);
      return;
    }
    if (head.status !== 404) throw new RegistryError(`HEAD blob ${digest} in ${repo}`, head.status, head.body);
    const from = this.holders.get(digest) ?? this.fallbackMount;
    const mountQuery =
      from && from !== repo ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}` : '';
    const post = await s.send({ method: 'POST', url: `/v2/${repo}/blobs/uploads/${mountQuery}` });
    if (post.status === 201 && mountQuery) {
      stats.mounted++;
      this.holders.set(digest, repo);
      return;
    }
    if (post.status !== 202 || !post.headers.location)
      throw new RegistryError(`Starting upload of ${digest} to ${repo}`, post.status, post.body);
    const location = String(post.headers.location);
    const path = this.cache.blobPath(digest);
    const put = await s.send({
      method: 'PUT',
      url: `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
      body: () => createReadStream(path, { highWaterMark: 1 << 20 }),
    });
    if (put.status !== 201) throw new RegistryError(`Uploading blob ${digest} to ${repo}`, put.status, put.body);
    stats.uploaded++;
    stats.uploadedBytes += size;
    this.holders.set(digest, repo);
  }
}
