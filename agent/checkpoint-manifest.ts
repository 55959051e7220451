import type { ManifestWire } from '../adapters/oci/oci.wire.ts';
import { CHECKPOINT_ANNOTATION, CONTAINERD_CHECKPOINT_ANNOTATION } from '../adapters/oci/port.ts';
import type { LoadRequest } from './loader.ts';

/**
 * What is wrong with a checkpoint image's manifest for `req`, or null: it must have exactly one layer, the archive
 * itself (its sha256 and size), and name `req.container` in both runtimes' annotations (CRI-O's and containerd's),
 * so the image restores that container on either runtime.
 *
 * @example
 * ```ts
 * const problem = manifestProblem(JSON.parse(raw) as ManifestWire, req); // 'its layer is sha256:…, not …' | null
 * ```
 */
export function manifestProblem(m: ManifestWire, req: LoadRequest): string | null {
  const layers = m.layers ?? [];
  if (layers.length !== 1) return `its manifest has ${layers.length} layers, expected 1`;
  const layer = layers[0] as ManifestWire['layers'][number];
  if (layer.digest !== `sha256:${req.sha256}`)
    return `its layer is ${layer.digest}, not the archive sha256:${req.sha256}`;
  if (layer.size !== req.bytes) return `its layer has ${layer.size} bytes, the archive ${req.bytes}`;
  for (const key of [CHECKPOINT_ANNOTATION, CONTAINERD_CHECKPOINT_ANNOTATION]) {
    const named = m.annotations?.[key];
    if (named !== req.container) return `its annotation ${key} restores container "${named}", not "${req.container}"`;
  }
  return null;
}
