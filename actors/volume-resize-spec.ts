/**
 * VolumeResize spec (as users write it, API.md) -> the normalised VolumeResizeSpec the chart runs on. Defaults
 * are applied here; bad input is one InvalidInputError that lists every problem with its field.
 */
import { InvalidInputError } from '../adapters/errors.ts';
import { DEFAULT_VR_PHASE_DEADLINES, type VolumeResizeSpec } from '../machines/volume-resize-spec.ts';
import { validateSpec } from './crd/resource.ts';
import { volumeResizeResource } from './crd/volume-resize.ts';
import type { CrMeta } from './migration-spec.ts';

/**
 * @example
 * ```ts
 * const spec = normalizeVolumeResizeSpec({ namespace: 'default', name: 'vr1', uid }, cr.spec);
 * ```
 */
export function normalizeVolumeResizeSpec(
  meta: CrMeta,
  raw: unknown,
  runtime: { maxAttempts?: number; retryBaseMs?: number; migratorImage?: string } = {},
): VolumeResizeSpec {
  const object = `VolumeResize ${meta.namespace}/${meta.name}`;
  const limit = volumeResizeResource.maxNameLength;
  if (limit && [...meta.name].length > limit.length)
    throw new InvalidInputError(object, `metadata.name must be at most ${limit.length} characters: ${limit.why}`);
  const s = validateSpec(volumeResizeResource, object, raw);
  const migratorImage = s.migratorImage ?? runtime.migratorImage;
  if (!migratorImage)
    throw new InvalidInputError(
      object,
      'spec.migratorImage is unset and the operator has no default (MS2M_MIGRATOR_IMAGE): set one of them to an image with rclone and du',
    );
  return {
    namespace: meta.namespace,
    name: meta.name,
    uid: meta.uid,
    statefulSetName: s.statefulSetName,
    volumes: s.volumes.map((v) => ({
      name: v.name,
      newSize: v.newSize,
      ...(v.storageClass ? { storageClass: v.storageClass } : {}),
    })),
    dryRun: s.dryRun,
    preSync: s.preSync,
    usedBytesMargin: s.usedBytesMargin,
    migratorImage,
    phaseDeadlines: { ...DEFAULT_VR_PHASE_DEADLINES },
    maxAttempts: runtime.maxAttempts ?? 5,
    retryBaseMs: runtime.retryBaseMs ?? 500,
  };
}
