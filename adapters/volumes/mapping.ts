/**
 * Kubernetes wire objects (client-node's V1 types) -> the domain shapes of the VolumeOps port. Nothing here talks
 * to the API server.
 */
import type {
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1StatefulSet,
  V1StorageClass,
} from '@kubernetes/client-node';
import type {
  ClaimInfo,
  ClaimPhase,
  LabelSelector,
  PdbInfo,
  ReclaimPolicy,
  SavedStatefulSet,
  StatefulSetInfo,
  StorageClassInfo,
  VolumeInfo,
  VolumePhase,
  VolumePodInfo,
} from './port.ts';

const IS_DEFAULT_CLASS = [
  'storageclass.kubernetes.io/is-default-class',
  'storageclass.beta.kubernetes.io/is-default-class',
] as const;

/** A quantity as the API returns it (client-node keeps quantities as strings or numbers). */
const quantity = (q: unknown): string => (q === undefined || q === null ? '' : String(q));

/**
 * The StatefulSet as a plain JSON manifest (what the API would accept back), with the server's fields dropped:
 * uid, resourceVersion, generation, managedFields, creationTimestamp, deletion fields, ownerReferences to
 * nothing, and status.
 */
export function savedManifest(sts: V1StatefulSet): SavedStatefulSet {
  const json = JSON.parse(JSON.stringify(sts)) as Record<string, unknown> & {
    metadata?: Record<string, unknown>;
  };
  const meta = { ...(json.metadata ?? {}) };
  for (const k of [
    'uid',
    'resourceVersion',
    'generation',
    'managedFields',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
    'selfLink',
  ])
    delete meta[k];
  const { status: _status, ...rest } = json;
  // client-node sends Date fields with toISOString(): the dates read back as strings must go (the server sets
  // them), and so must the claim templates' status
  const spec = rest.spec as
    | { template?: { metadata?: Record<string, unknown> }; volumeClaimTemplates?: Record<string, unknown>[] }
    | undefined;
  if (spec?.template?.metadata) delete spec.template.metadata.creationTimestamp;
  for (const t of spec?.volumeClaimTemplates ?? []) {
    delete t.status;
    if (t.metadata) delete (t.metadata as Record<string, unknown>).creationTimestamp;
  }
  return { ...rest, apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta };
}

export function statefulSetInfo(sts: V1StatefulSet): StatefulSetInfo {
  const status = sts.status;
  const rolledOut = status?.currentRevision !== undefined && status.currentRevision === status.updateRevision;
  return {
    namespace: sts.metadata?.namespace ?? '',
    name: sts.metadata?.name ?? '',
    uid: sts.metadata?.uid ?? '',
    replicas: sts.spec?.replicas ?? 1,
    readyReplicas: status?.readyReplicas ?? 0,
    updatedReplicas: rolledOut ? (status?.updatedReplicas ?? 0) : 0,
    podLabels: { ...(sts.spec?.template?.metadata?.labels ?? {}) },
    claimTemplates: (sts.spec?.volumeClaimTemplates ?? []).map((t) => ({
      name: t.metadata?.name ?? '',
      request: quantity(t.spec?.resources?.requests?.storage),
      ...(t.spec?.storageClassName !== undefined ? { storageClassName: t.spec.storageClassName } : {}),
      accessModes: [...(t.spec?.accessModes ?? [])],
      labels: { ...(t.metadata?.labels ?? {}) },
    })),
    deleting: Boolean(sts.metadata?.deletionTimestamp),
    manifest: savedManifest(sts),
  };
}

export function claimInfo(c: V1PersistentVolumeClaim): ClaimInfo {
  const capacity = c.status?.capacity?.storage;
  return {
    namespace: c.metadata?.namespace ?? '',
    name: c.metadata?.name ?? '',
    uid: c.metadata?.uid ?? '',
    phase: (c.status?.phase ?? 'Pending') as ClaimPhase,
    ...(c.spec?.volumeName ? { volumeName: c.spec.volumeName } : {}),
    ...(c.spec?.storageClassName !== undefined ? { storageClassName: c.spec.storageClassName } : {}),
    request: quantity(c.spec?.resources?.requests?.storage),
    ...(capacity !== undefined ? { capacity: quantity(capacity) } : {}),
    accessModes: [...(c.spec?.accessModes ?? [])],
    labels: { ...(c.metadata?.labels ?? {}) },
    annotations: { ...(c.metadata?.annotations ?? {}) },
    deleting: Boolean(c.metadata?.deletionTimestamp),
  };
}

/** The nodes a PV's required node affinity names with `kubernetes.io/hostname In [...]`. */
export function volumeNodes(pv: V1PersistentVolume): string[] {
  const nodes = new Set<string>();
  for (const term of pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [])
    for (const e of term.matchExpressions ?? [])
      if (e.key === 'kubernetes.io/hostname' && e.operator === 'In') for (const v of e.values ?? []) nodes.add(v);
  return [...nodes];
}

export function volumeInfo(pv: V1PersistentVolume): VolumeInfo {
  const ref = pv.spec?.claimRef;
  return {
    name: pv.metadata?.name ?? '',
    uid: pv.metadata?.uid ?? '',
    phase: (pv.status?.phase ?? 'Pending') as VolumePhase,
    reclaimPolicy: (pv.spec?.persistentVolumeReclaimPolicy ?? 'Retain') as ReclaimPolicy,
    capacity: quantity(pv.spec?.capacity?.storage),
    ...(pv.spec?.storageClassName !== undefined ? { storageClassName: pv.spec.storageClassName } : {}),
    ...(ref?.name
      ? { claimRef: { namespace: ref.namespace ?? '', name: ref.name, ...(ref.uid ? { uid: ref.uid } : {}) } }
      : {}),
    annotations: { ...(pv.metadata?.annotations ?? {}) },
    nodes: volumeNodes(pv),
  };
}

export function storageClassInfo(sc: V1StorageClass): StorageClassInfo {
  const a = sc.metadata?.annotations ?? {};
  return {
    name: sc.metadata?.name ?? '',
    provisioner: sc.provisioner,
    reclaimPolicy: (sc.reclaimPolicy ?? 'Delete') as ReclaimPolicy,
    volumeBindingMode: (sc.volumeBindingMode ?? 'Immediate') as StorageClassInfo['volumeBindingMode'],
    allowVolumeExpansion: sc.allowVolumeExpansion ?? false,
    isDefault: IS_DEFAULT_CLASS.some((k) => a[k] === 'true'),
  };
}

export function pdbInfo(p: V1PodDisruptionBudget): PdbInfo {
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    selector: {
      ...(p.spec?.selector?.matchLabels ? { matchLabels: { ...p.spec.selector.matchLabels } } : {}),
      ...(p.spec?.selector?.matchExpressions
        ? {
            matchExpressions: p.spec.selector.matchExpressions.map((e) => ({
              key: e.key,
              operator: e.operator as NonNullable<LabelSelector['matchExpressions']>[number]['operator'],
              ...(e.values ? { values: [...e.values] } : {}),
            })),
          }
        : {}),
    },
    disruptionsAllowed: p.status?.disruptionsAllowed ?? 0,
    currentHealthy: p.status?.currentHealthy ?? 0,
    desiredHealthy: p.status?.desiredHealthy ?? 0,
  };
}

export function volumePodInfo(p: V1Pod): VolumePodInfo {
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid ?? '',
    ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
    phase: (p.status?.phase ?? 'Pending') as VolumePodInfo['phase'],
    ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    deleting: Boolean(p.metadata?.deletionTimestamp),
    labels: { ...(p.metadata?.labels ?? {}) },
    claims: (p.spec?.volumes ?? []).flatMap((v) =>
      v.persistentVolumeClaim?.claimName ? [v.persistentVolumeClaim.claimName] : [],
    ),
  };
}
