/**
 * Rollback after a failure, a deadline or a cancel (also when the resource is deleted): every pod the resize
 * created goes; each original claim that was deleted is created again under its name, bound to its old PV (which
 * was retained before anything was deleted); temp claims go; the StatefulSet comes back from its recorded
 * manifest. Old PVs stay Retain. Idempotent: it reads the cluster and does only what is still to do, so a crash
 * or a failed attempt simply runs it again.
 */
import { replicaPodName } from '../../adapters/volumes/port.ts';
import type { Unit, VolumeResizeContext } from '../../machines/volume-resize-context.ts';
import { pollUntil, type VrEffect, type VrEffectEnv } from './deps.ts';
import { deleteClaimAndWait, deletePodAndWait } from './wait.ts';

export const rollback: VrEffect = async ({ ctx, key }, env) => {
  const { volumes } = env.deps;
  const ns = ctx.spec.namespace;
  const actions: string[] = [];
  const leftovers: string[] = [];
  const reboundClaims: string[] = [];

  // 1. the pods this resize created (probe, pre-sync, migrator)
  const created = await volumes.listResizeObjects(ns, ctx.spec.name);
  for (const pod of created.pods) {
    await deletePodAndWait(env, ns, pod.name, key);
    actions.push(`Deleted Pod ${pod.name}`);
  }

  // 2. a StatefulSet recreated by this resize (with the new sizes) goes, orphaning its pods. Judged on the cluster,
  // not on the log: a step cut short (cancel, crash) may have changed it without recording its fact
  const original = ctx.original;
  if (original) {
    const sts = await volumes.getStatefulSet(ns, ctx.spec.statefulSetName);
    if (sts && sts.uid !== original.uid && !sts.deleting) {
      await volumes.deleteStatefulSetOrphan(ns, sts.name, key, { uid: sts.uid });
      await pollUntil(env, async () =>
        (await volumes.getStatefulSet(ns, sts.name))?.uid === sts.uid ? undefined : true,
      );
      actions.push(`Deleted StatefulSet ${sts.name} created with the new sizes`);
    }
  }

  // 3. each original claim that is gone (or replaced) is bound to its old PV again
  for (const u of ctx.units) {
    if (await rebindOriginal(env, ctx, u, key, actions)) reboundClaims.push(u.oldClaim);
  }

  // 4. temp claims (their PVs are deleted by their class unless retained)
  const temps = new Set([...ctx.units.map((u) => u.tempClaim), ...created.claims.map((c) => c.name)]);
  for (const name of temps) {
    const u = ctx.units.find((x) => x.tempClaim === name);
    const c = await volumes.getClaim(ns, name);
    if (!c || c.labels['storage.ms2m.io/volume-resize'] !== ctx.spec.name) continue;
    await deleteClaimAndWait(env, ns, name, c.uid, key);
    actions.push(`Deleted PersistentVolumeClaim ${name}`);
    if (u?.done.retainNewVolume && u.newPV)
      leftovers.push(
        `PersistentVolume ${u.newPV} (Retain) holds a copy of ${u.oldClaim}; delete it when you no longer need it`,
      );
  }
  for (const u of ctx.units) {
    // a retained copy whose temp claim is gone (and which no claim of the original name uses any more)
    if (u.done.deleteTempClaim && u.newPV && u.done.retainNewVolume) {
      leftovers.push(
        `PersistentVolume ${u.newPV} (Retain) holds a copy of ${u.oldClaim}; delete it when you no longer need it`,
      );
    }
  }

  // 5. the StatefulSet as it was: it adopts the running pods and recreates the stopped ones on their old claims
  if (original) {
    const sts = await volumes.getStatefulSet(ns, ctx.spec.statefulSetName);
    if (!sts || sts.deleting) {
      if (sts) await pollUntil(env, async () => ((await volumes.getStatefulSet(ns, sts.name)) ? undefined : true));
      await volumes.recreateStatefulSet(original.manifest, {}, key);
      actions.push(`Created StatefulSet ${ctx.spec.statefulSetName} from its recorded manifest`);
    }
  }
  return { type: 'RollbackCompleted', data: { actions, leftovers: [...new Set(leftovers)], reboundClaims } };
};

/** Binds the claim of the original name to the old PV again when it no longer is; true when it did. */
async function rebindOriginal(
  env: VrEffectEnv,
  ctx: VolumeResizeContext,
  u: Unit,
  key: string,
  actions: string[],
): Promise<boolean> {
  const { volumes } = env.deps;
  const ns = ctx.spec.namespace;
  if (!u.oldPV || !u.done.retainOldVolume) return false;
  const claim = await volumes.getClaim(ns, u.oldClaim);
  if (claim && (claim.uid === u.oldClaimUid || claim.volumeName === u.oldPV)) return false;
  // a pod of that replica may hold the claim bound to the new PV (protection keeps it until the pod is gone)
  const pod = replicaPodName(ctx.spec.statefulSetName, u.replica);
  if (claim) {
    await deletePodAndWait(env, ns, pod, key);
    await deleteClaimAndWait(env, ns, u.oldClaim, claim.uid, key);
    actions.push(`Deleted PersistentVolumeClaim ${u.oldClaim} bound to ${claim.volumeName ?? 'nothing'}`);
  }
  await volumes.clearClaimRef(u.oldPV, key, { namespace: ns, name: u.oldClaim });
  await volumes.createClaim(
    {
      namespace: ns,
      name: u.oldClaim,
      size: u.request ?? u.newSize,
      storageClassName: u.oldStorageClass,
      accessModes: u.accessModes,
      labels: u.labels,
      volumeName: u.oldPV,
    },
    key,
  );
  await pollUntil(env, async () => {
    const c = await volumes.getClaim(ns, u.oldClaim);
    return c?.phase === 'Bound' && c.volumeName === u.oldPV ? true : undefined;
  });
  actions.push(`Bound PersistentVolumeClaim ${u.oldClaim} to its old PersistentVolume ${u.oldPV} again`);
  return true;
}
