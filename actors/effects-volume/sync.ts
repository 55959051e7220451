/**
 * Syncing: record what rollback needs (write-ahead), prepare each temp claim and retain each old PV, stop the
 * replica (the StatefulSet orphan-deleted once, then the replica's pod), copy and verify, clean up.
 */
import { ErrorCode, Ms2mError, NotFoundError } from '../../adapters/errors.ts';
import {
  type MigratorProgress,
  type MigratorRequest,
  migratorPodName,
  ORIGINAL_RECLAIM_POLICY,
  ProvisioningFailedError,
  presyncPodName,
  RETAINED_BY,
  replicaPodName,
} from '../../adapters/volumes/port.ts';
import type { Unit } from '../../machines/volume-resize-context.ts';
import type { VrEventData } from '../../machines/volume-resize-events.ts';
import {
  currentUnit,
  DEFAULT_PROVISIONING_GRACE_MS,
  ownerOf,
  pollUntil,
  required,
  resizeLabels,
  timeLeftMs,
  type VrEffect,
  type VrEffectEnv,
  type VrEffectInput,
} from './deps.ts';
import { deletePodAndWait } from './wait.ts';

export const recordOriginals: VrEffect = async ({ ctx }, { deps }) => {
  const { volumes } = deps;
  const ns = ctx.spec.namespace;
  const sts = await volumes.getStatefulSet(ns, ctx.spec.statefulSetName);
  if (!sts || sts.deleting) {
    throw new NotFoundError(
      'StatefulSet',
      `${ns}/${ctx.spec.statefulSetName}`,
      'it was deleted after validation; nothing was changed, recreate it and the VolumeResize',
    );
  }
  const claims: VrEventData['OriginalsRecorded']['claims'] = [];
  for (const u of ctx.units) {
    const c = await volumes.getClaim(ns, u.oldClaim);
    if (!c?.volumeName || c.phase !== 'Bound') {
      throw new Ms2mError(
        ErrorCode.CONFLICT,
        `PersistentVolumeClaim ${ns}/${u.oldClaim} is no longer Bound; nothing was changed, recreate the VolumeResize once it is`,
      );
    }
    const pv = await volumes.getVolume(c.volumeName);
    if (!pv)
      throw new NotFoundError(
        'PersistentVolume',
        c.volumeName,
        `claim ${ns}/${u.oldClaim} names it; check the cluster`,
      );
    const recorded = pv.annotations[ORIGINAL_RECLAIM_POLICY];
    claims.push({
      replica: u.replica,
      volume: u.volume,
      claimUid: c.uid,
      pv: pv.name,
      // a PV retained by an earlier resize keeps the policy it had before that one
      reclaimPolicy:
        recorded === 'Delete' || recorded === 'Recycle' || recorded === 'Retain' ? recorded : pv.reclaimPolicy,
      request: c.request,
      storageClassName: c.storageClassName,
      accessModes: c.accessModes,
      labels: c.labels,
      nodeName: ctx.pods[u.replica]?.nodeName ?? (pv.nodes.length === 1 ? pv.nodes[0] : undefined),
    });
  }
  return {
    type: 'OriginalsRecorded',
    data: { statefulSetUid: sts.uid, replicas: sts.replicas, manifest: sts.manifest, claims },
  };
};

export const createTempClaim: VrEffect = async (input, { deps }) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const claim = await deps.volumes.createClaim(
    {
      namespace: ctx.spec.namespace,
      name: u.tempClaim,
      size: u.newSize,
      storageClassName: u.storageClass,
      accessModes: u.accessModes,
      labels: resizeLabels(ctx, 'temp-claim'),
      nodeName: u.nodeName,
    },
    input.key,
  );
  return {
    type: 'TempClaimCreated',
    data: { replica: u.replica, volume: u.volume, claim: claim.name, uid: claim.uid },
  };
};

/** How often a claim still Pending is checked for a provisioner's refusal (an Events list). */
const REFUSAL_CHECK_MS = 10_000;
/**
 * ProvisioningFailed messages that say a provisioner is still at work, not that it refused: the CSI
 * external-provisioner reports its own call timing out (`DeadlineExceeded`) or still running (`Aborted`, "operation
 * already exists") and retries.
 */
const STILL_PROVISIONING = /DeadlineExceeded|Aborted|already exists|in progress/i;

/**
 * Waits until the temp claim is Bound. A provisioner that keeps refusing the claim (its latest ProvisioningFailed
 * Event says so, for the whole provisioning grace) fails the step for good, naming its reason: waiting on until the
 * Syncing deadline (hours) would not change its mind. Messages of a provisioner still at work do not count, and a
 * refusal the provisioner gets over (the claim binds) costs nothing.
 */
export const awaitTempBound: VrEffect = async (input, env) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const ns = ctx.spec.namespace;
  const { clock, volumes } = env.deps;
  const graceMs = env.deps.provisioningGraceMs ?? DEFAULT_PROVISIONING_GRACE_MS;
  let checkedAt = Number.NEGATIVE_INFINITY;
  let refusedSince: number | undefined;
  const pv = await pollUntil(env, async () => {
    const c = await volumes.getClaim(ns, u.tempClaim);
    if (!c || (u.tempClaimUid && c.uid !== u.tempClaimUid)) {
      throw new NotFoundError(
        'PersistentVolumeClaim',
        `${ns}/${u.tempClaim}`,
        'it was deleted while waiting for it to bind',
      );
    }
    if (c.phase === 'Bound' && c.volumeName) return c.volumeName;
    const now = clock.now();
    if (now - checkedAt >= Math.min(REFUSAL_CHECK_MS, graceMs)) {
      checkedAt = now;
      const reason = await volumes.provisioningFailure(ns, u.tempClaim, c.uid);
      if (reason === null || STILL_PROVISIONING.test(reason)) refusedSince = undefined;
      else {
        refusedSince ??= now;
        if (now - refusedSince >= graceMs)
          throw new ProvisioningFailedError(`${ns}/${u.tempClaim}`, c, now - refusedSince, reason);
      }
    }
    return undefined;
  });
  return { type: 'TempClaimBound', data: { replica: u.replica, volume: u.volume, pv } };
};

export const retainOldVolume: VrEffect = async (input, { deps }) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const pv = required(input, `the PersistentVolume of ${u.oldClaim}`, u.oldPV);
  const originalPolicy = required(input, `the reclaim policy of ${pv}`, u.oldReclaimPolicy);
  await deps.volumes.setReclaimPolicy(
    pv,
    'Retain',
    { [ORIGINAL_RECLAIM_POLICY]: originalPolicy, [RETAINED_BY]: ownerOf(ctx) },
    input.key,
  );
  return { type: 'OldVolumeRetained', data: { replica: u.replica, volume: u.volume, pv, originalPolicy } };
};

/**
 * Runs migrator pod `podName` from the unit's old claim to its temp claim (`presync` while the app runs, `sync`
 * for the copy that counts), recording throttled CopyProgressed facts; all of them are recorded before it returns.
 */
async function runCopy(
  input: VrEffectInput,
  env: VrEffectEnv,
  u: Unit,
  podName: string,
  role: 'presync' | 'migrator',
  mode: MigratorRequest['mode'],
) {
  const { ctx } = input;
  const req = {
    namespace: ctx.spec.namespace,
    podName,
    image: ctx.spec.migratorImage,
    sourceClaim: u.oldClaim,
    targetClaim: u.tempClaim,
    nodeName: u.nodeName,
    labels: resizeLabels(ctx, role),
    mode,
    key: input.key,
  };
  const { clock } = env.deps;
  const every = env.deps.progressIntervalMs ?? 1000;
  let last = Number.NEGATIVE_INFINITY;
  let lastStage = '';
  let chain: Promise<void> = Promise.resolve();
  const onProgress = (p: MigratorProgress) => {
    const now = clock.now();
    if (now - last < every && p.stage === lastStage) return;
    last = now;
    lastStage = p.stage;
    const data = {
      replica: u.replica,
      volume: u.volume,
      stage: p.stage,
      bytesTransferred: p.bytesTransferred,
      bytesTotal: p.bytesTotal,
    };
    chain = chain.then(() => env.emit({ type: 'CopyProgressed', data })).catch(() => undefined);
  };
  const result = await env.deps.volumes.runMigrator(
    { ...req, timeoutMs: timeLeftMs(input, env) },
    onProgress,
    env.signal,
  );
  await chain;
  return result;
}

export const preSync: VrEffect = async (input, env) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const podName = presyncPodName(ctx.spec.name, u.replica, u.volume);
  const r = await runCopy(input, env, u, podName, 'presync', 'presync');
  await deletePodAndWait(env, ctx.spec.namespace, podName, input.key);
  return {
    type: 'PreSyncCompleted',
    data: { replica: u.replica, volume: u.volume, bytesTransferred: r.bytesTransferred, bytesTotal: r.bytesTotal },
  };
};

export const orphanStatefulSet: VrEffect = async (input, env) => {
  const { ctx } = input;
  const ns = ctx.spec.namespace;
  const original = required(input, 'the recorded StatefulSet', ctx.original);
  const sts = await env.deps.volumes.getStatefulSet(ns, ctx.spec.statefulSetName);
  if (sts && sts.uid === original.uid) {
    await env.deps.volumes.deleteStatefulSetOrphan(ns, sts.name, input.key, { uid: sts.uid });
    await pollUntil(env, async () => {
      const now = await env.deps.volumes.getStatefulSet(ns, ctx.spec.statefulSetName);
      return now && now.uid === original.uid ? undefined : true;
    });
  }
  return { type: 'StatefulSetOrphaned', data: { uid: original.uid } };
};

export const deleteReplicaPod: VrEffect = async (input, env) => {
  const { ctx } = input;
  const replica = required(input, 'the replica to stop', ctx.current?.replica);
  const pod = replicaPodName(ctx.spec.statefulSetName, replica);
  await deletePodAndWait(env, ctx.spec.namespace, pod, input.key);
  return { type: 'ReplicaPodDeleted', data: { replica, pod } };
};

export const copyVolume: VrEffect = async (input, env) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const podName = migratorPodName(ctx.spec.name, u.replica, u.volume);
  const r = await runCopy(input, env, u, podName, 'migrator', 'sync');
  if (!r.verified) {
    throw new Ms2mError(
      ErrorCode.CHECKSUM_MISMATCH,
      `Migrator pod ${podName} finished without verifying checksums; the source claim ${u.oldClaim} is untouched`,
    );
  }
  return {
    type: 'VolumeCopied',
    data: {
      replica: u.replica,
      volume: u.volume,
      bytesTransferred: r.bytesTransferred,
      bytesTotal: r.bytesTotal,
      files: r.files,
      verified: true,
    },
  };
};

export const removeMigrator: VrEffect = async (input, env) => {
  const { ctx } = input;
  const u = currentUnit(input);
  await deletePodAndWait(env, ctx.spec.namespace, migratorPodName(ctx.spec.name, u.replica, u.volume), input.key);
  return { type: 'MigratorRemoved', data: { replica: u.replica, volume: u.volume } };
};
