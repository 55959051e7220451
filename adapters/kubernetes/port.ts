/**
 * The Kubernetes API, narrowed to what the migration and VolumeResize need. The real implementation
 * (client-node) lives in `kubernetes.ts`; `fake.ts` is an in-memory cluster with scripted pod lifecycles.
 * Domain shapes here; wire (K8s JSON) shapes stay inside the real adapter.
 *
 * @example
 * ```ts
 * const pod = await cluster.getPod('default', 'myapp-0'); // null when missing
 * await cluster.createPod(shadowPodSpec, 'default/m1:create-target'); // no-op when it exists
 * await cluster.deletePod('default', 'myapp-0', 'default/m1:delete-source', { uid: pod.uid }); // only that instance
 * ```
 */
export interface Cluster {
  getPod(namespace: string, name: string): Promise<PodInfo | null>;
  getNode(name: string): Promise<NodeInfo | null>;
  /** Walks ownerReferences: the pod's controller and, for a ReplicaSet, its Deployment. */
  getOwners(namespace: string, pod: PodInfo): Promise<OwnerInfo>;
  /** Creates the pod; when a pod of that name exists already, returns it unchanged (idempotent). */
  createPod(pod: NewPod, key: string): Promise<PodInfo>;
  /**
   * Deletes the pod instance with this UID (the one the caller created or inspected): DeleteOptions
   * `preconditions: {uid}`. A missing pod is a no-op, and so is a pod of that name with another UID (the API
   * answers 409 Conflict): a successor with the same name (a StatefulSet ordinal, a recreated target) is not
   * the caller's to delete.
   */
  deletePod(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void>;
  getStatefulSetReplicas(namespace: string, name: string): Promise<number | null>;
  scaleStatefulSet(namespace: string, name: string, replicas: number, key: string): Promise<void>;
  /** Sets `controller.kubernetes.io/pod-deletion-cost` on a pod. */
  setPodDeletionCost(namespace: string, pod: string, cost: number, key: string): Promise<void>;
  /** Removes the ownerReference with this uid (the CR's) so another controller may adopt the pod. */
  removeOwnerReference(namespace: string, pod: string, ownerUid: string, key: string): Promise<void>;
  /** SHADOW's PatchAffinity mode: pins the Deployment's template to the node. */
  patchDeploymentNodeAffinity(namespace: string, deployment: string, node: string, key: string): Promise<void>;
  /** Records a Kubernetes Event on an object (kubebuilder style message: `Created Pod myapp-0-shadow`). */
  recordEvent(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface ContainerSpec {
  name: string;
  image: string;
  /** The full container spec as the API returned it (env, mounts, probes, ports, resources): kept verbatim. */
  spec: Record<string, unknown>;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  nodeName?: string;
  phase: PodPhase;
  ready: boolean;
  deleting: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  containers: ContainerSpec[];
  ownerReferences: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
  /** Why a pod is stuck, when it is: e.g. `ImagePullBackOff`, `CrashLoopBackOff`, `ErrImageNeverPull`. */
  waitingReason?: string;
  /** The rest of the pod spec (volumes, serviceAccountName, securityContext, …), kept verbatim. */
  podSpec: Record<string, unknown>;
}

export interface NodeInfo {
  name: string;
  ready: boolean;
}

export interface OwnerInfo {
  kind: 'StatefulSet' | 'ReplicaSet' | 'None' | 'Other';
  name?: string;
  /** The Deployment that owns the ReplicaSet, when there is one. */
  deploymentName?: string;
}

export interface NewPod {
  namespace: string;
  name: string;
  nodeName: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  containers: Array<Record<string, unknown>>;
  podSpec: Record<string, unknown>;
  ownerReferences: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }>;
}

export const MIGRATION_LABEL = 'migration.ms2m.io/migration';
export const ROLE_LABEL = 'migration.ms2m.io/role';
export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
export const shadowPodName = (sourcePod: string): string => `${sourcePod}-shadow`;
export const transferJobName = (cr: string): string => `${cr}-transfer`;
