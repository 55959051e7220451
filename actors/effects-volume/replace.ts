/**
 * Replacing: each new PV is retained before its temp claim goes; each original claim is deleted only after its
 * data was copied and verified and its old PV retained (checked again here against the cluster), then recreated
 * under the same name bound to the new PV; finally the StatefulSet comes back with the new sizes.
 */
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import {
  ORIGINAL_RECLAIM_POLICY,
  RETAINED_BY,
  replicaPodName,
  type TemplateSize,
} from '../../adapters/volumes/port.ts';
import { currentUnit, ownerOf, pollUntil, required, type VrEffect } from './deps.ts';
import { deleteClaimAndWait } from './wait.ts';

export const retainNewVolume: VrEffect = async (input, { deps }) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const name = required(input, `the PersistentVolume of ${u.tempClaim}`, u.newPV);
  const pv = await deps.volumes.getVolume(name);
  if (!pv) {
    throw new Ms2mError(
      ErrorCode.NOT_FOUND,
      `PersistentVolume ${name} (the copy of ${u.oldClaim}) not found: the original data is untouched on ${u.oldPV}`,
    );
  }
  const originalPolicy = pv.reclaimPolicy === 'Retain' ? (u.newReclaimPolicy ?? 'Retain') : pv.reclaimPolicy;
  await deps.volumes.setReclaimPolicy(
    name,
    'Retain',
    { [ORIGINAL_RECLAIM_POLICY]: originalPolicy, [RETAINED_BY]: ownerOf(ctx) },
    input.key,
  );
  return { type: 'NewVolumeRetained', data: { replica: u.replica, volume: u.volume, pv: name, originalPolicy } };
};

export const deleteTempClaim: VrEffect = async (input, env) => {
  const { ctx } = input;
  const u = currentUnit(input);
  await deleteClaimAndWait(env, ctx.spec.namespace, u.tempClaim, u.tempClaimUid, input.key);
  return { type: 'TempClaimDeleted', data: { replica: u.replica, volume: u.volume } };
};

export const clearNewClaimRef: VrEffect = async (input, { deps }) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const pv = required(input, `the PersistentVolume of ${u.tempClaim}`, u.newPV);
  await deps.volumes.clearClaimRef(pv, input.key, { namespace: ctx.spec.namespace, name: u.oldClaim });
  return { type: 'NewClaimRefCleared', data: { replica: u.replica, volume: u.volume, pv } };
};

export const deleteOriginalClaim: VrEffect = async (input, env) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const oldPV = required(input, `the PersistentVolume of ${u.oldClaim}`, u.oldPV);
  // the chart orders it after the copy and the retain; the cluster is asked again before the one delete that matters
  const pv = await env.deps.volumes.getVolume(oldPV);
  if (!u.done.copyVolume || !u.done.retainOldVolume || pv?.reclaimPolicy !== 'Retain') {
    throw new Ms2mError(
      ErrorCode.CONFLICT,
      `Refused to delete PersistentVolumeClaim ${ctx.spec.namespace}/${u.oldClaim}: its PersistentVolume ${oldPV} is ${pv ? `reclaim policy ${pv.reclaimPolicy}` : 'missing'}${u.done.copyVolume ? '' : ' and its copy is not verified'}; set it to Retain and retry`,
    );
  }
  await deleteClaimAndWait(env, ctx.spec.namespace, u.oldClaim, u.oldClaimUid, input.key);
  return { type: 'OriginalClaimDeleted', data: { replica: u.replica, volume: u.volume, claim: u.oldClaim } };
};

export const bindOriginalClaim: VrEffect = async (input, env) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const ns = ctx.spec.namespace;
  const newPV = required(input, `the PersistentVolume of ${u.tempClaim}`, u.newPV);
  const { volumes } = env.deps;
  const existing = await volumes.getClaim(ns, u.oldClaim);
  if (existing && existing.uid === u.oldClaimUid) {
    throw new Ms2mError(ErrorCode.CONFLICT, `PersistentVolumeClaim ${ns}/${u.oldClaim} was not deleted; retry`, {
      transient: true,
    });
  }
  if (existing && existing.volumeName !== newPV) {
    throw new Ms2mError(
      ErrorCode.CONFLICT,
      `PersistentVolumeClaim ${ns}/${u.oldClaim} was created by someone else (bound to ${existing.volumeName ?? 'nothing'}): delete it so the resize can bind the name to ${newPV}`,
    );
  }
  const pv = await volumes.getVolume(newPV);
  const claim =
    existing ??
    (await volumes.createClaim(
      {
        namespace: ns,
        name: u.oldClaim,
        size: u.newSize,
        storageClassName: pv?.storageClassName ?? u.storageClass,
        accessModes: u.accessModes,
        labels: u.labels,
        volumeName: newPV,
      },
      input.key,
    ));
  await pollUntil(env, async () => {
    const c = await volumes.getClaim(ns, u.oldClaim);
    return c?.phase === 'Bound' && c.volumeName === newPV ? true : undefined;
  });
  return {
    type: 'OriginalClaimRebound',
    data: { replica: u.replica, volume: u.volume, claim: u.oldClaim, uid: claim.uid, pv: newPV },
  };
};

export const recreateStatefulSet: VrEffect = async (input, { deps }) => {
  const { ctx } = input;
  const original = required(input, 'the recorded StatefulSet', ctx.original);
  const sizes: Record<string, TemplateSize> = Object.fromEntries(
    ctx.spec.volumes.map((v) => [v.name, { size: v.newSize, storageClassName: v.storageClass }]),
  );
  const sts = await deps.volumes.recreateStatefulSet(original.manifest, sizes, input.key);
  return { type: 'StatefulSetRecreated', data: { uid: sts.uid } };
};

export const awaitReplicasReady: VrEffect = async (input, env) => {
  const { ctx } = input;
  const replicas = required(input, 'the recorded replicas', ctx.original?.replicas);
  const { volumes } = env.deps;
  const ns = ctx.spec.namespace;
  const ready = await pollUntil(env, async () => {
    const sts = await volumes.getStatefulSet(ns, ctx.spec.statefulSetName);
    if (!sts || sts.readyReplicas < replicas) return undefined;
    // every replica Ready, and every resized claim on its new volume
    for (let n = 0; n < replicas; n++) {
      const pod = await volumes.getPod(ns, replicaPodName(ctx.spec.statefulSetName, n));
      if (!pod?.ready || pod.deleting) return undefined;
    }
    for (const u of ctx.units) {
      const c = await volumes.getClaim(ns, u.oldClaim);
      if (c?.volumeName !== u.newPV) return undefined;
    }
    return sts.readyReplicas;
  });
  return { type: 'ReplicasReady', data: { ready } };
};
