/** Validating: read the StatefulSet, its claims, pods, PDBs and storage classes; measure each claim's data. */
import { NO_PROVISIONER, probePodName, replicaClaimName, replicaPodName } from '../../adapters/volumes/port.ts';
import { quantityBytes } from '../../machines/quantity.ts';
import type { InspectedClaim, InspectedClass } from '../../machines/volume-resize-events.ts';
import { currentUnit, resizeLabels, timeLeftMs, type VrEffect } from './deps.ts';
import { selects } from './label-selector.ts';

export const inspect: VrEffect = async ({ ctx }, { deps }) => {
  const { volumes } = deps;
  const { spec } = ctx;
  const sts = await volumes.getStatefulSet(spec.namespace, spec.statefulSetName);
  if (!sts || sts.deleting) return { type: 'StatefulSetInspected', data: { found: false } };
  const pods: Array<{ replica: number; name: string; uid: string; nodeName?: string }> = [];
  const claims: InspectedClaim[] = [];
  for (let n = 0; n < sts.replicas; n++) {
    const pod = await volumes.getPod(spec.namespace, replicaPodName(sts.name, n));
    if (pod && !pod.deleting) pods.push({ replica: n, name: pod.name, uid: pod.uid, nodeName: pod.nodeName });
    for (const v of spec.volumes) {
      if (!sts.claimTemplates.some((t) => t.name === v.name)) continue;
      const name = replicaClaimName(v.name, sts.name, n);
      const c = await volumes.getClaim(spec.namespace, name);
      claims.push(
        c
          ? {
              replica: n,
              volume: v.name,
              name,
              found: true,
              uid: c.uid,
              phase: c.phase,
              volumeName: c.volumeName,
              request: c.request,
              storageClassName: c.storageClassName,
            }
          : { replica: n, volume: v.name, name, found: false },
      );
    }
  }
  const classes: InspectedClass[] = [];
  for (const v of spec.volumes) {
    const t = sts.claimTemplates.find((x) => x.name === v.name);
    if (!t) continue;
    const fromClaim = claims.find((c) => c.volume === v.name && c.storageClassName)?.storageClassName;
    const requested = v.storageClass ?? t.storageClassName ?? fromClaim ?? null;
    const sc = await volumes.getStorageClass(requested);
    if (!sc) {
      classes.push({ volume: v.name, requested, found: false, static: false });
      continue;
    }
    const isStatic = sc.provisioner === NO_PROVISIONER;
    const newBytes = quantityBytes(v.newSize) ?? Number.POSITIVE_INFINITY;
    const available = isStatic
      ? (await volumes.listAvailableVolumes(sc.name)).filter((pv) => (quantityBytes(pv.capacity) ?? 0) >= newBytes)
          .length
      : undefined;
    classes.push({
      volume: v.name,
      requested,
      name: sc.name,
      found: true,
      provisioner: sc.provisioner,
      availableVolumes: available,
      static: isStatic,
    });
  }
  const pdbs = (await volumes.listPodDisruptionBudgets(spec.namespace))
    .filter((p) => selects(p.selector, sts.podLabels))
    .map((p) => ({ name: p.name, disruptionsAllowed: p.disruptionsAllowed }));
  return {
    type: 'StatefulSetInspected',
    data: {
      found: true,
      uid: sts.uid,
      replicas: sts.replicas,
      podLabels: sts.podLabels,
      templates: sts.claimTemplates.map((t) => ({
        name: t.name,
        request: t.request,
        storageClassName: t.storageClassName,
        accessModes: t.accessModes,
        labels: t.labels,
      })),
      pods,
      claims,
      pdbs,
      classes,
    },
  };
};

export const measureUsage: VrEffect = async (input, env) => {
  const { ctx } = input;
  const u = currentUnit(input);
  const usage = await env.deps.volumes.measureUsage(
    {
      namespace: ctx.spec.namespace,
      claimName: u.oldClaim,
      podName: probePodName(ctx.spec.name, u.replica, u.volume),
      image: ctx.spec.migratorImage,
      nodeName: u.nodeName,
      labels: resizeLabels(ctx, 'probe'),
      key: input.key,
      timeoutMs: timeLeftMs(input, env),
    },
    env.signal,
  );
  return {
    type: 'UsageMeasured',
    data: { replica: u.replica, volume: u.volume, usedBytes: usage.usedBytes, usedInodes: usage.usedInodes },
  };
};
