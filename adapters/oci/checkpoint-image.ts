import { digestBytes } from './digest.ts';
import {
  type DescriptorWire,
  type ImageConfigWire,
  type ManifestWire,
  MEDIA_CONFIG,
  MEDIA_LAYER_TAR,
  MEDIA_MANIFEST,
} from './oci.wire.ts';
import { CHECKPOINT_ANNOTATION, CONTAINERD_CHECKPOINT_ANNOTATION } from './port.ts';

export interface CheckpointImageBlobs {
  config: { bytes: Buffer; descriptor: DescriptorWire };
  layer: DescriptorWire;
  manifest: { bytes: Buffer; descriptor: DescriptorWire };
}

/**
 * The checkpoint image's config and manifest for a layer that is the checkpoint tar as-is (uncompressed, so the
 * layer digest is also its diff_id), the manifest annotated with the container for CRI-O and for containerd.
 * Deterministic: no timestamps, so a re-push yields the same digests.
 *
 * @example
 * ```ts
 * const img = checkpointImage({ container: 'app', layerDigest: 'sha256:...', layerSize: 1234 });
 * img.manifest.descriptor.digest; // sha256 of the manifest JSON
 * ```
 */
export function checkpointImage(p: {
  container: string;
  layerDigest: string;
  layerSize: number;
  arch?: string;
}): CheckpointImageBlobs {
  const annotations = { [CHECKPOINT_ANNOTATION]: p.container, [CONTAINERD_CHECKPOINT_ANNOTATION]: p.container };
  const cfg: ImageConfigWire = {
    architecture: p.arch ?? goArch(process.arch),
    os: 'linux',
    config: { Labels: { [CHECKPOINT_ANNOTATION]: p.container } },
    rootfs: { type: 'layers', diff_ids: [p.layerDigest] },
  };
  const cfgBytes = Buffer.from(JSON.stringify(cfg));
  const config: DescriptorWire = { mediaType: MEDIA_CONFIG, ...digestBytes(cfgBytes) };
  const layer: DescriptorWire = { mediaType: MEDIA_LAYER_TAR, digest: p.layerDigest, size: p.layerSize };
  const manifest: ManifestWire = { schemaVersion: 2, mediaType: MEDIA_MANIFEST, config, layers: [layer], annotations };
  const mBytes = Buffer.from(JSON.stringify(manifest));
  return {
    config: { bytes: cfgBytes, descriptor: config },
    layer,
    manifest: { bytes: mBytes, descriptor: { mediaType: MEDIA_MANIFEST, ...digestBytes(mBytes) } },
  };
}

function goArch(a: string): string {
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}
