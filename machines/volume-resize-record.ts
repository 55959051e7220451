/**
 * How each fact changes what a resize remembers. Control flow is the chart's (volume-resize.ts) and the order is
 * volume-resize-plan.ts's; this reducer only records data and marks steps done.
 */
import { formatBytes } from './quantity.ts';
import type { Unit, VolumeResizeContext } from './volume-resize-context.ts';
import type { VrEvent } from './volume-resize-events.ts';
import { markStep, markUnit } from './volume-resize-plan.ts';

const withUnit = (
  ctx: VolumeResizeContext,
  replica: number,
  volume: string,
  change: (u: Unit) => Partial<Unit>,
): VolumeResizeContext => {
  const i = ctx.units.findIndex((u) => u.replica === replica && u.volume === volume);
  if (i < 0) return ctx;
  const units = ctx.units.slice();
  units[i] = { ...units[i]!, ...change(units[i]!) };
  return { ...ctx, units };
};

/** Units in order: replica by replica, and within a replica the volumes in spec order. */
function unitsFor(
  ctx: VolumeResizeContext,
  replicas: number,
  templates: { name: string; accessModes: string[] }[],
): Unit[] {
  const sts = ctx.spec.statefulSetName;
  const units: Unit[] = [];
  for (let n = 0; n < replicas; n++) {
    for (const v of ctx.spec.volumes) {
      units.push({
        replica: n,
        volume: v.name,
        oldClaim: `${v.name}-${sts}-${n}`,
        tempClaim: `${v.name}-${sts}-${n}-new`,
        newSize: v.newSize,
        storageClass: v.storageClass,
        accessModes: templates.find((t) => t.name === v.name)?.accessModes ?? ['ReadWriteOnce'],
        labels: {},
        bytesCopied: 0,
        bytesTotal: 0,
        done: {},
      });
    }
  }
  return units;
}

export function recordVrFact(ctx0: VolumeResizeContext, event: VrEvent): VolumeResizeContext {
  let ctx: VolumeResizeContext = { ...ctx0, now: Math.max(ctx0.now, event.at) };
  switch (event.type) {
    case 'StatefulSetInspected': {
      const d = event.data;
      ctx = markStep(ctx, { step: 'inspect' });
      if (!d.found || d.uid === undefined) break;
      const templates = d.templates ?? [];
      ctx.statefulSet = { uid: d.uid, replicas: d.replicas ?? 0, podLabels: d.podLabels ?? {}, templates };
      ctx.pods = Object.fromEntries(
        (d.pods ?? []).map((p) => [p.replica, { name: p.name, uid: p.uid, nodeName: p.nodeName }]),
      );
      ctx.units = unitsFor(ctx, d.replicas ?? 0, templates).map((u) => {
        const c = d.claims?.find((x) => x.replica === u.replica && x.volume === u.volume);
        const cls = d.classes?.find((x) => x.volume === u.volume);
        return {
          ...u,
          oldClaimUid: c?.uid,
          oldPV: c?.volumeName,
          request: c?.request,
          oldStorageClass: c?.storageClassName,
          storageClass: u.storageClass ?? cls?.name ?? c?.storageClassName,
          nodeName: ctx.pods[u.replica]?.nodeName,
        };
      });
      ctx.message = `Inspected StatefulSet ${ctx.spec.statefulSetName}: ${d.replicas ?? 0} replicas, ${ctx.units.length} claims to resize`;
      break;
    }
    case 'UsageMeasured': {
      const d = event.data;
      ctx = withUnit(ctx, d.replica, d.volume, () => ({ usedBytes: d.usedBytes, usedInodes: d.usedInodes }));
      ctx = markUnit(ctx, d.replica, d.volume, 'measureUsage');
      ctx.message = `Measured ${d.volume}-${ctx.spec.statefulSetName}-${d.replica}: ${formatBytes(d.usedBytes)} in ${d.usedInodes} inodes`;
      break;
    }
    case 'OriginalsRecorded': {
      const d = event.data;
      ctx.original = { uid: d.statefulSetUid, replicas: d.replicas, manifest: d.manifest };
      for (const c of d.claims) {
        ctx = withUnit(ctx, c.replica, c.volume, (u) => ({
          oldClaimUid: c.claimUid,
          oldPV: c.pv,
          oldReclaimPolicy: c.reclaimPolicy,
          request: c.request,
          oldStorageClass: c.storageClassName,
          accessModes: c.accessModes,
          labels: c.labels,
          nodeName: c.nodeName ?? u.nodeName,
        }));
      }
      ctx = markStep(ctx, { step: 'recordOriginals' });
      ctx.message = `Recorded StatefulSet ${ctx.spec.statefulSetName} (${d.replicas} replicas) and the reclaim policies of ${d.claims.length} PersistentVolumes`;
      break;
    }
    case 'TempClaimCreated': {
      const d = event.data;
      ctx = withUnit(ctx, d.replica, d.volume, () => ({ tempClaimUid: d.uid }));
      ctx = markUnit(ctx, d.replica, d.volume, 'createTempClaim');
      ctx.message = `Created PersistentVolumeClaim ${d.claim}`;
      break;
    }
    case 'TempClaimBound': {
      const d = event.data;
      ctx = withUnit(ctx, d.replica, d.volume, () => ({ newPV: d.pv }));
      ctx = markUnit(ctx, d.replica, d.volume, 'awaitTempBound');
      ctx.message = `PersistentVolumeClaim ${d.volume}-${ctx.spec.statefulSetName}-${d.replica}-new is Bound to ${d.pv}`;
      break;
    }
    case 'OldVolumeRetained': {
      const d = event.data;
      ctx = withUnit(ctx, d.replica, d.volume, () => ({ oldPV: d.pv, oldReclaimPolicy: d.originalPolicy }));
      ctx = markUnit(ctx, d.replica, d.volume, 'retainOldVolume');
      ctx.message = `Set PersistentVolume ${d.pv} to Retain (was ${d.originalPolicy})`;
      break;
    }
    case 'PreSyncCompleted': {
      const d = event.data;
      ctx = withUnit(ctx, d.replica, d.volume, () => ({ bytesCopied: d.bytesTransferred, bytesTotal: d.bytesTotal }));
      ctx = markUnit(ctx, d.replica, d.volume, 'preSync');
      ctx.message = `Pre-synced ${d.volume} of replica ${d.replica} while it runs (${formatBytes(d.bytesTransferred)})`;
      break;
    }
    case 'StatefulSetOrphaned':
      ctx = markStep(ctx, { step: 'orphanStatefulSet' });
      ctx.message = `Deleted StatefulSet ${ctx.spec.statefulSetName} (orphan: its pods and claims stay)`;
      break;
    case 'ReplicaPodDeleted':
      ctx = markStep(ctx, { step: 'deleteReplicaPod', replica: event.data.replica });
      ctx.message = `Deleted Pod ${event.data.pod}`;
      break;
    case 'CopyProgressed': {
      const d = event.data;
      ctx = withUnit(ctx, d.replica, d.volume, () => ({ bytesCopied: d.bytesTransferred, bytesTotal: d.bytesTotal }));
      break;
    }
    case 'VolumeCopied': {
      const d = event.data;
      ctx = withUnit(ctx, d.replica, d.volume, () => ({ bytesCopied: d.bytesTotal, bytesTotal: d.bytesTotal }));
      ctx = markUnit(ctx, d.replica, d.volume, 'copyVolume');
      ctx.message = `Copied and verified ${d.volume} of replica ${d.replica}: ${formatBytes(d.bytesTotal)} in ${d.files} files`;
      break;
    }
    case 'MigratorRemoved':
      ctx = markUnit(ctx, event.data.replica, event.data.volume, 'removeMigrator');
      break;
    case 'NewVolumeRetained': {
      const d = event.data;
      ctx = withUnit(ctx, d.replica, d.volume, () => ({ newPV: d.pv, newReclaimPolicy: d.originalPolicy }));
      ctx = markUnit(ctx, d.replica, d.volume, 'retainNewVolume');
      ctx.message = `Set PersistentVolume ${d.pv} to Retain`;
      break;
    }
    case 'TempClaimDeleted':
      ctx = markUnit(ctx, event.data.replica, event.data.volume, 'deleteTempClaim');
      break;
    case 'NewClaimRefCleared':
      ctx = markUnit(ctx, event.data.replica, event.data.volume, 'clearNewClaimRef');
      break;
    case 'OriginalClaimDeleted':
      ctx = markUnit(ctx, event.data.replica, event.data.volume, 'deleteOriginalClaim');
      ctx.message = `Deleted PersistentVolumeClaim ${event.data.claim} (its PersistentVolume is retained)`;
      break;
    case 'OriginalClaimRebound': {
      const d = event.data;
      ctx = withUnit(ctx, d.replica, d.volume, () => ({ reboundUid: d.uid }));
      ctx = markUnit(ctx, d.replica, d.volume, 'bindOriginalClaim');
      ctx.message = `Created PersistentVolumeClaim ${d.claim} bound to ${d.pv}`;
      break;
    }
    case 'StatefulSetRecreated':
      ctx = markStep(ctx, { step: 'recreateStatefulSet' });
      ctx.message = `Created StatefulSet ${ctx.spec.statefulSetName} with the new sizes`;
      break;
    case 'ReplicasReady':
      ctx = markStep(ctx, { step: 'awaitReplicasReady' });
      ctx.message = `${event.data.ready} replicas of StatefulSet ${ctx.spec.statefulSetName} are Ready on their new volumes`;
      break;
    case 'RollbackCompleted':
      ctx.rollback = { ...event.data };
      break;
    default:
      break;
  }
  return ctx;
}
