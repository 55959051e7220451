/**
 * Kubernetes Pod objects (wire) <-> the Cluster port's domain shapes. The container specs and the rest of the
 * pod spec are kept verbatim (as the API's JSON) so a target pod carries everything the source had.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { NewPod, PodInfo, PodPhase } from './port.ts';

const PHASES = new Set<PodPhase>(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);

/**
 * A client-node object as the API's JSON: the models use the API's camelCase names, so a JSON round trip is
 * enough (Dates become the API's RFC 3339 strings). This is what the domain keeps verbatim.
 */
export const toJson = (value: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(value ?? {}));

/**
 * @example
 * ```ts
 * const info = podInfo(await core.readNamespacedPod({ namespace, name }));
 * ```
 */
export function podInfo(pod: V1Pod): PodInfo {
  const meta = pod.metadata ?? {};
  const spec = pod.spec ?? { containers: [] };
  const status = pod.status ?? {};
  const phase = (status.phase ?? 'Unknown') as PodPhase;
  const ready = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const waiting = status.containerStatuses?.find((s) => s.state?.waiting?.reason)?.state?.waiting?.reason;
  const { containers, nodeName, ...rest } = toJson(spec) as {
    containers: Array<Record<string, unknown>>;
    nodeName?: string;
  } & Record<string, unknown>;
  return {
    namespace: meta.namespace ?? '',
    name: meta.name ?? '',
    uid: meta.uid ?? '',
    nodeName: nodeName ?? undefined,
    phase: PHASES.has(phase) ? phase : 'Unknown',
    ready,
    deleting: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    labels: { ...(meta.labels ?? {}) },
    annotations: { ...(meta.annotations ?? {}) },
    containers: containers.map((c) => ({ name: String(c.name), image: String(c.image ?? ''), spec: c })),
    ownerReferences: (meta.ownerReferences ?? []).map((r) => ({
      apiVersion: r.apiVersion,
      kind: r.kind,
      name: r.name,
      uid: r.uid,
      ...(r.controller ? { controller: true } : {}),
    })),
    ...(waiting ? { waitingReason: waiting } : {}),
    podSpec: rest,
  };
}

/**
 * The Pod object to create: the verbatim pod spec (volumes, service account, security context, …) with the
 * given containers, pinned to the node by `nodeName` (the scheduler is bypassed, as SHADOW does).
 */
export function podObject(pod: NewPod): V1Pod {
  const spec = {
    ...pod.podSpec,
    nodeName: pod.nodeName,
    containers: pod.containers,
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: pod.namespace,
      name: pod.name,
      labels: pod.labels,
      annotations: pod.annotations ?? {},
      ownerReferences: pod.ownerReferences,
    },
    spec: spec as unknown as V1Pod['spec'],
  };
}
