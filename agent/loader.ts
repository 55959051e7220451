import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { directCheckpointImage } from '../adapters/agent-client/port.ts';
import { writeCheckpointLayout } from '../adapters/oci/layout.ts';

const run = promisify(execFile);

export interface LoadRequest {
  archivePath: string;
  container: string;
  sha256: string;
  bytes: number;
}

export interface LoadedImage {
  image: string;
  via: 'containers-storage' | 'oci-layout';
  layoutDir: string;
}

/** Makes a received checkpoint runnable as `localhost/checkpoint/<ctr>:latest`. */
export interface ImageLoader {
  load(req: LoadRequest): Promise<LoadedImage>;
}

/**
 * Writes the checkpoint image as an OCI layout in the store (`images/<ctr>`, the archive hard-linked as its
 * layer, no copy), then, when `containersStorage` is on and skopeo exists, copies it into containers-storage
 * as `localhost/checkpoint/<ctr>:latest` for CRI-O/podman.
 *
 * @example
 * ```ts
 * const loader = createImageLoader({ storeDir: '/var/lib/ms2m-agent', containersStorage: true });
 * ```
 */
export function createImageLoader(o: { storeDir: string; containersStorage?: boolean; skopeo?: string }): ImageLoader {
  return {
    async load(req) {
      const image = directCheckpointImage(req.container);
      const layoutDir = join(o.storeDir, 'images', req.container);
      await rm(layoutDir, { recursive: true, force: true }); // one image per container: old blobs hold old memory
      await writeCheckpointLayout({
        dir: layoutDir,
        container: req.container,
        tarPath: req.archivePath,
        tag: 'latest',
        digest: `sha256:${req.sha256}`,
        size: req.bytes,
      });
      if (o.containersStorage) {
        await run(o.skopeo ?? 'skopeo', ['copy', '--quiet', `oci:${layoutDir}:latest`, `containers-storage:${image}`], {
          maxBuffer: 1 << 20,
        });
        return { image, via: 'containers-storage', layoutDir };
      }
      return { image, via: 'oci-layout', layoutDir };
    },
  };
}

/** True when skopeo runs and a containers-storage root exists (what CRI-O and podman use). */
export async function detectContainersStorage(
  root = '/var/lib/containers/storage',
  skopeo = 'skopeo',
): Promise<boolean> {
  try {
    await run(skopeo, ['--version']);
    const { stat } = await import('node:fs/promises');
    return (await stat(root)).isDirectory();
  } catch {
    return false;
  }
}
