/**
 * The checks of Validating, one rule per function; each failure names the check and the fix. They judge the
 * inspected StatefulSet (StatefulSetInspected) and then each measured claim (UsageMeasured).
 */
import { formatBytes, quantityBytes } from './quantity.ts';
import type { VolumeResizeContext } from './volume-resize-context.ts';
import type { VrEventData } from './volume-resize-events.ts';
import { BYTES_PER_INODE } from './volume-resize-spec.ts';

export type ValidationCheck =
  | 'StatefulSetExists'
  | 'HasReplicas'
  | 'VolumeFound'
  | 'ValidSize'
  | 'SizeSmaller'
  | 'ClaimBound'
  | 'StorageClass'
  | 'DisruptionBudget'
  | 'UsedBytesFit'
  | 'InodesFit';

export interface ValidationFailure {
  check: ValidationCheck;
  message: string;
}

const fail = (check: ValidationCheck, message: string): ValidationFailure => ({
  check,
  message: `Validation failed (${check}): ${message}`,
});

/** The first check the inspected StatefulSet fails, or null. */
export function inspectionFailure(
  ctx: VolumeResizeContext,
  d: VrEventData['StatefulSetInspected'],
): ValidationFailure | null {
  const { spec } = ctx;
  const sts = `${spec.namespace}/${spec.statefulSetName}`;
  if (!d.found) {
    return fail(
      'StatefulSetExists',
      `StatefulSet ${sts} not found: set spec.statefulSetName to a StatefulSet in namespace ${spec.namespace}`,
    );
  }
  const templates = d.templates ?? [];
  for (const [i, v] of spec.volumes.entries()) {
    if (!templates.some((t) => t.name === v.name)) {
      const has = templates.map((t) => t.name).join(', ') || 'none';
      return fail(
        'VolumeFound',
        `volume ${v.name} is not a volumeClaimTemplate of StatefulSet ${sts} (it has: ${has}): fix spec.volumes[${i}].name`,
      );
    }
  }
  if ((d.replicas ?? 0) < 1) {
    return fail('HasReplicas', `StatefulSet ${sts} has 0 replicas, so no claims to resize: scale it up first`);
  }
  for (const [i, v] of spec.volumes.entries()) {
    const newBytes = quantityBytes(v.newSize);
    if (newBytes === null || newBytes <= 0) {
      return fail('ValidSize', `spec.volumes[${i}].newSize ${v.newSize} is not a positive quantity: write e.g. 1Gi`);
    }
    const template = templates.find((t) => t.name === v.name)!;
    const sizes = [template.request, ...(d.claims ?? []).filter((c) => c.volume === v.name).map((c) => c.request)];
    for (const size of sizes) {
      const current = size === undefined ? null : quantityBytes(size);
      if (current !== null && newBytes >= current) {
        return fail(
          'SizeSmaller',
          `newSize ${v.newSize} of volume ${v.name} is not smaller than its current request ${size}: Kubernetes grows a claim in place (edit its request); VolumeResize only shrinks, so set spec.volumes[${i}].newSize below ${size}`,
        );
      }
    }
  }
  for (const c of d.claims ?? []) {
    if (!c.found) {
      return fail(
        'ClaimBound',
        `PersistentVolumeClaim ${spec.namespace}/${c.name} of replica ${c.replica} (volume ${c.volume}) not found: let the StatefulSet create it (all replicas running once), then recreate the VolumeResize`,
      );
    }
    if (c.phase !== 'Bound' || !c.volumeName) {
      return fail(
        'ClaimBound',
        `PersistentVolumeClaim ${spec.namespace}/${c.name} is ${c.phase ?? 'not Bound'}: only claims Bound to a PersistentVolume can be copied; wait until it is Bound`,
      );
    }
  }
  for (const c of d.classes ?? []) {
    const i = spec.volumes.findIndex((v) => v.name === c.volume);
    if (!c.found) {
      return fail(
        'StorageClass',
        c.requested === null
          ? `volume ${c.volume} names no storage class and the cluster has no default StorageClass: set spec.volumes[${i}].storageClass`
          : `StorageClass ${c.requested} (volume ${c.volume}) not found: create it or set spec.volumes[${i}].storageClass to an existing class`,
      );
    }
    const needed = d.replicas ?? 0;
    if (c.static && (c.availableVolumes ?? 0) < needed) {
      return fail(
        'StorageClass',
        `StorageClass ${c.name} provisions statically (${c.provisioner}) and has ${c.availableVolumes ?? 0} Available PersistentVolume(s) of at least ${spec.volumes[i]?.newSize}, ${needed} needed for volume ${c.volume}: create PersistentVolumes of that class`,
      );
    }
  }
  for (const p of d.pdbs ?? []) {
    if (p.disruptionsAllowed < 1) {
      return fail(
        'DisruptionBudget',
        `PodDisruptionBudget ${spec.namespace}/${p.name} allows ${p.disruptionsAllowed} disruptions of StatefulSet ${spec.statefulSetName}'s pods: wait until its pods are healthy or relax the budget (minAvailable/maxUnavailable), then recreate the VolumeResize`,
      );
    }
  }
  return null;
}

/** The bytes a new volume needs for `used` bytes with a margin of `marginPercent`. */
export const neededBytes = (used: number, marginPercent: number): number => Math.ceil(used * (1 + marginPercent / 100));

/** Whether a measured claim fits its new size (more than used + margin; enough inodes at ext4's default ratio). */
export function usageFailure(ctx: VolumeResizeContext, d: VrEventData['UsageMeasured']): ValidationFailure | null {
  const i = ctx.spec.volumes.findIndex((v) => v.name === d.volume);
  const v = ctx.spec.volumes[i];
  if (!v) return null;
  const newBytes = quantityBytes(v.newSize) ?? 0;
  const claim = `${d.volume}-${ctx.spec.statefulSetName}-${d.replica}`;
  const need = neededBytes(d.usedBytes, ctx.spec.usedBytesMargin);
  if (newBytes <= need) {
    return fail(
      'UsedBytesFit',
      `PersistentVolumeClaim ${ctx.spec.namespace}/${claim} holds ${formatBytes(d.usedBytes)}; newSize ${v.newSize} of volume ${d.volume} must exceed that by the ${ctx.spec.usedBytesMargin}% margin (more than ${formatBytes(need)}): raise spec.volumes[${i}].newSize or free space on the volume`,
    );
  }
  const inodes = Math.floor(newBytes / BYTES_PER_INODE);
  if (d.usedInodes > inodes) {
    return fail(
      'InodesFit',
      `PersistentVolumeClaim ${ctx.spec.namespace}/${claim} holds ${d.usedInodes} files and directories; a ${v.newSize} volume has about ${inodes} inodes (ext4, one per ${BYTES_PER_INODE} bytes): raise spec.volumes[${i}].newSize`,
    );
  }
  return null;
}
