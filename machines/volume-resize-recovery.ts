/**
 * Where the data is after a failure or a cancel, in words a human can act on: for every claim whose volume the
 * resize touched, which PersistentVolume holds the original data (always retained before anything was deleted),
 * whether a claim with the original name reaches it, and if not the exact commands that rebind it.
 */
import type { Unit, VolumeResizeContext } from './volume-resize-context.ts';

/** True when the claim with the original name still (or again) reaches the old PV. */
export function originalClaimReachesOldPV(ctx: VolumeResizeContext, u: Unit): boolean {
  if (!u.done.deleteOriginalClaim) return true;
  return ctx.rollback?.reboundClaims.includes(u.oldClaim) ?? false;
}

function unitLine(ctx: VolumeResizeContext, u: Unit): string | null {
  const ns = ctx.spec.namespace;
  if (!u.oldPV) return null;
  if (!u.done.retainOldVolume) {
    return `${ns}/${u.oldClaim}: untouched, still bound to PersistentVolume ${u.oldPV}`;
  }
  if (originalClaimReachesOldPV(ctx, u)) {
    return `${ns}/${u.oldClaim}: bound to PersistentVolume ${u.oldPV} (reclaim policy Retain, was ${u.oldReclaimPolicy ?? 'unknown'}) with the original data`;
  }
  return (
    `${ns}/${u.oldClaim}: the original data is on PersistentVolume ${u.oldPV} (reclaim policy Retain); to reach it, ` +
    `delete any claim named ${u.oldClaim}, run kubectl patch pv ${u.oldPV} --type json -p '[{"op":"remove","path":"/spec/claimRef"}]' ` +
    `and create PersistentVolumeClaim ${u.oldClaim} in ${ns} with spec.volumeName: ${u.oldPV}`
  );
}

/** One paragraph: the data of every touched claim and how to reach it. Empty when nothing was touched. */
export function recoveryInstructions(ctx: VolumeResizeContext): string {
  const lines = ctx.units.filter((u) => u.done.retainOldVolume).flatMap((u) => unitLine(ctx, u) ?? []);
  if (lines.length === 0) return '';
  const stsNote =
    ctx.done.orphanStatefulSet && !ctx.rollback
      ? ` StatefulSet ${ctx.spec.statefulSetName} was deleted (orphan); its manifest is in the resize's event log.`
      : '';
  return `Data: ${lines.join('; ')}.${stsNote} Set a retained PersistentVolume back to its old reclaim policy once you no longer need it.`;
}
