import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { directCheckpointImage } from '../adapters/agent-client/port.ts';
import { writeCheckpointLayout } from '../adapters/oci/layout.ts';
import type { IndexWire, ManifestWire } from '../adapters/oci/oci.wire.ts';
import { REF_NAME_ANNOTATION } from '../adapters/oci/oci.wire.ts';
import { manifestProblem } from './checkpoint-manifest.ts';
import { ContainerdImages, type ContainerdOptions } from './containerd-images.ts';
import { imageUnverified } from './errors.ts';

const run = promisify(execFile);

export interface LoadRequest {
  archivePath: string;
  container: string;
  /** The archive's sha256 (hex), verified when it was stored: the image is named after it. */
  sha256: string;
  bytes: number;
}

export interface LoadedImage {
  /** `directCheckpointImage(container, sha256)`: the tag is the archive digest. */
  image: string;
  /** Where the runtime finds it: the node's containerd, containers-storage (CRI-O), or only the store's layout. */
  via: 'containerd' | 'containers-storage' | 'oci-layout';
  layoutDir: string;
  manifestDigest: string;
}

/**
 * Makes a stored archive runnable as `localhost/checkpoint/<ctr>:sha256-<digest>`. The name is derived from the
 * content, so two checkpoints never share a name, and every image is checked to hold exactly that archive before
 * it is named in an answer.
 */
export interface ImageLoader {
  /** Builds (or reuses a verified) image for the archive and container; throws IMAGE_VERIFY_FAILED otherwise. */
  load(req: LoadRequest): Promise<LoadedImage>;
  /** null when `img` is still present and still holds exactly `req`'s archive for `req`'s container, else why not. */
  verify(req: LoadRequest, img: LoadedImage): Promise<string | null>;
  /** Removes the image from the runtime's storage (the layout folder belongs to the store). Missing is fine. */
  unload(img: LoadedImage): Promise<void>;
}

export interface ImageLoaderOptions {
  storeDir: string;
  /** Also copy the image into containers-storage (CRI-O, podman) with skopeo. */
  containersStorage?: boolean;
  /** containers-storage store spec, e.g. `[vfs@/var/lib/x+/run/x]`; default: the node's configured storage. */
  storageSpec?: string;
  skopeo?: string;
  /** Import into the node's containerd (CRI namespace `k8s.io`) with ctr. Not together with `containersStorage`. */
  containerd?: ContainerdOptions;
}

/** The tag part of `directCheckpointImage`. */
export const checkpointTag = (sha256: string) => directCheckpointImage('x', sha256).split(':').pop() as string;

/**
 * Writes the checkpoint image as an OCI layout in the store (`images/<sha256>/<ctr>`, the archive hard-linked as
 * its layer, no copy), built in `tmp/` and renamed into place, then, with `containerd`, imports it into the node's
 * containerd (`containerd-images.ts`), or, with `containersStorage`, copies it into containers-storage for
 * CRI-O/podman. Each is verified: the layout's manifest must name the archive's digest as its only layer (and its
 * layer blob be the archive itself), and the image in the runtime's storage must have that manifest (in containerd
 * also its layer unpacked in the runtime's snapshotter). An image already there that verifies is not loaded again.
 *
 * @example
 * ```ts
 * const loader = createImageLoader({ storeDir: '/var/lib/ms2m-agent', containersStorage: true });
 * const img = await loader.load({ archivePath, container: 'app', sha256, bytes });
 * img.image; // 'localhost/checkpoint/app:sha256-<sha256>'
 * ```
 */
export function createImageLoader(o: ImageLoaderOptions): ImageLoader {
  if (o.containerd && o.containersStorage)
    throw new Error('createImageLoader: choose containerd or containersStorage, not both (a node runs one runtime)');
  const containerd = o.containerd ? new ContainerdImages(o.containerd) : undefined;
  const via: LoadedImage['via'] = containerd ? 'containerd' : o.containersStorage ? 'containers-storage' : 'oci-layout';
  const skopeo = o.skopeo ?? 'skopeo';
  const storageRef = (image: string) => `containers-storage:${o.storageSpec ?? ''}${image}`;

  async function place(req: LoadRequest, image: string): Promise<{ layoutDir: string; manifestDigest: string }> {
    const tag = checkpointTag(req.sha256);
    const layoutDir = join(o.storeDir, 'images', req.sha256, req.container);
    const current = await verifyLayout(layoutDir, tag, req).catch(() => null);
    if (current) return { layoutDir, manifestDigest: current };
    const tmp = join(o.storeDir, 'tmp', `layout-${randomUUID()}`);
    try {
      await writeCheckpointLayout({
        dir: tmp,
        container: req.container,
        tarPath: req.archivePath,
        tag,
        digest: `sha256:${req.sha256}`,
        size: req.bytes,
      });
      const manifestDigest = await verifyLayout(tmp, tag, req).catch((err: Error) => {
        throw imageUnverified(image, `the layout just written does not hold the archive: ${err.message}`);
      });
      await mkdir(join(o.storeDir, 'images', req.sha256), { recursive: true, mode: 0o700 });
      for (let attempt = 0; ; attempt++) {
        try {
          await rename(tmp, layoutDir);
          return { layoutDir, manifestDigest };
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt > 0) throw err;
          // another writer got there first (or a crash left a folder): keep it only if it is right
          const theirs = await verifyLayout(layoutDir, tag, req).catch(() => null);
          if (theirs) return { layoutDir, manifestDigest: theirs };
          await rm(layoutDir, { recursive: true, force: true });
        }
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async function verifyStorage(req: LoadRequest, image: string, manifestDigest: string): Promise<string | null> {
    let raw: string;
    try {
      raw = (await run(skopeo, ['inspect', '--raw', storageRef(image)], { maxBuffer: 1 << 20 })).stdout;
    } catch (err) {
      return `not in containers-storage (${(err as Error).message.split('\n')[0]})`;
    }
    const got = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    if (got !== manifestDigest) return `containers-storage holds manifest ${got}, expected ${manifestDigest}`;
    return manifestProblem(JSON.parse(raw) as ManifestWire, req);
  }

  return {
    async load(req) {
      const image = directCheckpointImage(req.container, req.sha256);
      const { layoutDir, manifestDigest } = await place(req, image);
      if (containerd) {
        if ((await containerd.verify(req, image, manifestDigest)) !== null) {
          await containerd.importLayout(layoutDir, image, req.bytes);
          const problem = await containerd.verify(req, image, manifestDigest);
          if (problem) throw imageUnverified(image, `after ctr images import: ${problem}`);
        }
        return { image, via, layoutDir, manifestDigest };
      }
      if (!o.containersStorage) return { image, via, layoutDir, manifestDigest };
      if ((await verifyStorage(req, image, manifestDigest)) !== null) {
        await run(skopeo, ['copy', '--quiet', `oci:${layoutDir}:${checkpointTag(req.sha256)}`, storageRef(image)], {
          maxBuffer: 1 << 20,
        });
        const problem = await verifyStorage(req, image, manifestDigest);
        if (problem) throw imageUnverified(image, problem);
      }
      return { image, via, layoutDir, manifestDigest };
    },
    async verify(req, img) {
      if (img.image !== directCheckpointImage(req.container, req.sha256))
        return `it is named ${img.image}, not after archive ${req.sha256} and container ${req.container}`;
      const layout = await verifyLayout(img.layoutDir, checkpointTag(req.sha256), req).then(
        (d) => (d === img.manifestDigest ? null : `its layout holds manifest ${d}, not ${img.manifestDigest}`),
        (err: Error) => err.message,
      );
      if (layout || img.via === 'oci-layout') return layout;
      if (img.via !== via) return `it was loaded into ${img.via}, this agent loads into ${via}`;
      if (containerd) return containerd.verify(req, img.image, img.manifestDigest);
      return verifyStorage(req, img.image, img.manifestDigest);
    },
    async unload(img) {
      // an image loaded by an agent configured for another runtime cannot be reached from here
      if (img.via === 'containerd' && containerd) return containerd.remove(img.image);
      if (img.via !== 'containers-storage') return;
      await run(skopeo, ['delete', storageRef(img.image)], { maxBuffer: 1 << 20 }).catch((err: Error) => {
        if (!/does not resolve to an image|not found|no such image/i.test(err.message)) throw err;
      });
    },
  };
}

/**
 * Checks an OCI layout holds the checkpoint image for `req` under `tag`: index -> manifest (its bytes hash to the
 * digest the index names) -> one layer that is the archive (same inode as the stored archive, or else hashed).
 * Returns the manifest digest; throws with the reason otherwise.
 */
export async function verifyLayout(dir: string, tag: string, req: LoadRequest): Promise<string> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as IndexWire;
  const entries = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (entries.length !== 1) throw new Error(`index.json has ${entries.length} manifests tagged ${tag}`);
  const digest = (entries[0] as IndexWire['manifests'][number]).digest;
  const blob = (d: string) => join(dir, 'blobs', 'sha256', d.replace(/^sha256:/, ''));
  const bytes = await readFile(blob(digest));
  if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest)
    throw new Error(`manifest blob ${digest} does not hash to its name`);
  const problem = manifestProblem(JSON.parse(bytes.toString('utf8')) as ManifestWire, req);
  if (problem) throw new Error(problem);
  const [layer, archive] = await Promise.all([stat(blob(`sha256:${req.sha256}`)), stat(req.archivePath)]);
  if (layer.ino !== archive.ino || layer.dev !== archive.dev) {
    const h = createHash('sha256');
    await pipeline(createReadStream(blob(`sha256:${req.sha256}`), { highWaterMark: 1 << 20 }), h);
    if (h.digest('hex') !== req.sha256) throw new Error(`layer blob does not hash to sha256:${req.sha256}`);
  }
  return digest;
}

/** True when skopeo runs and a containers-storage root exists (what CRI-O and podman use). */
export async function detectContainersStorage(
  root = '/var/lib/containers/storage',
  skopeo = 'skopeo',
): Promise<boolean> {
  try {
    await run(skopeo, ['--version']);
    return (await stat(root)).isDirectory();
  } catch {
    return false;
  }
}
