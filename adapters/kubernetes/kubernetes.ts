/**
 * The Cluster port on a real API server (@kubernetes/client-node ~1.4). Every mutation is idempotent: creating
 * what exists returns it, deleting what is gone is a no-op, a delete carries the UID the caller inspected so a
 * same-name successor is never touched. Errors are typed (api-errors.ts).
 */
import { randomUUID } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  type CoreV1Event,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { InvalidInputError } from '../errors.ts';
import { isConflict, isNotFound, toKubernetesError } from './api-errors.ts';
import { podInfo, podObject } from './pod-mapping.ts';
import {
  type Cluster,
  type NewPod,
  type NodeInfo,
  type ObjectRef,
  type OwnerInfo,
  POD_DELETION_COST,
  type PodInfo,
} from './port.ts';

export const FIELD_MANAGER = 'ms2m-operator';

/** When a Kubernetes Event last happened (epoch ms): `lastTimestamp`, else `eventTime`, else its creation. */
export const eventTimeMs = (e: CoreV1Event): number =>
  Number((e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp)?.valueOf() ?? 0);
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

export interface KubeClusterOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** `source.component` of the Events this adapter records. */
  component?: string;
  now?: () => number;
}

/**
 * @example
 * ```ts
 * const kc = new KubeConfig(); kc.loadFromDefault();
 * const cluster = new KubeCluster({ kubeConfig: kc, logger });
 * const pod = await cluster.getPod('default', 'consumer-0');
 * ```
 */
export class KubeCluster implements Cluster {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly now: () => number;

  constructor(private readonly opts: KubeClusterOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = opts.kubeConfig.makeApiClient(AppsV1Api);
    this.now = opts.now ?? Date.now;
  }

  async getPod(namespace: string, name: string): Promise<PodInfo | null> {
    try {
      return podInfo(await this.core.readNamespacedPod({ namespace, name }));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toKubernetesError(err, `Get Pod ${namespace}/${name}`);
    }
  }

  async getNode(name: string): Promise<NodeInfo | null> {
    try {
      const node = await this.core.readNode({ name });
      const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      return { name, ready };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toKubernetesError(err, `Get Node ${name}`);
    }
  }

  async getOwners(namespace: string, pod: PodInfo): Promise<OwnerInfo> {
    const ref = pod.ownerReferences.find((r) => r.controller);
    if (!ref) return { kind: 'None' };
    if (ref.kind === 'StatefulSet') return { kind: 'StatefulSet', name: ref.name };
    if (ref.kind !== 'ReplicaSet') return { kind: 'Other', name: ref.name };
    try {
      const rs = await this.apps.readNamespacedReplicaSet({ namespace, name: ref.name });
      const deployment = rs.metadata?.ownerReferences?.find((r) => r.controller && r.kind === 'Deployment');
      return { kind: 'ReplicaSet', name: ref.name, deploymentName: deployment?.name };
    } catch (err) {
      if (isNotFound(err)) return { kind: 'ReplicaSet', name: ref.name };
      throw toKubernetesError(err, `Get ReplicaSet ${namespace}/${ref.name}`);
    }
  }

  async createPod(pod: NewPod, key: string): Promise<PodInfo> {
    try {
      const created = await this.core.createNamespacedPod({
        namespace: pod.namespace,
        body: podObject(pod),
        fieldManager: FIELD_MANAGER,
      });
      this.opts.logger.info({ pod: `${pod.namespace}/${pod.name}`, key }, `Created Pod ${pod.name}`);
      return podInfo(created);
    } catch (err) {
      if (isConflict(err)) {
        const existing = await this.getPod(pod.namespace, pod.name);
        if (existing) return existing;
      }
      throw toKubernetesError(err, `Create Pod ${pod.namespace}/${pod.name}`);
    }
  }

  async deletePod(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void> {
    // without a UID the delete would hit whichever pod has the name now: never send one
    if (!precondition.uid) throw new InvalidInputError(`Delete Pod ${namespace}/${name}`, 'no UID precondition given');
    try {
      // DeleteOptions in the body: with a body, the API server ignores options given as query parameters
      await this.core.deleteNamespacedPod({ namespace, name, body: { preconditions: { uid: precondition.uid } } });
      this.opts.logger.info({ pod: `${namespace}/${name}`, uid: precondition.uid, key }, `Deleted Pod ${name}`);
    } catch (err) {
      if (isNotFound(err)) return;
      // a UID precondition that fails: the pod of that name is another one (a successor), not ours to delete
      if (isConflict(err)) {
        this.opts.logger.info(
          { pod: `${namespace}/${name}`, uid: precondition.uid, key },
          `Skipped deleting Pod ${name}: it has another UID now`,
        );
        return;
      }
      throw toKubernetesError(err, `Delete Pod ${namespace}/${name}`);
    }
  }

  async getStatefulSetReplicas(namespace: string, name: string): Promise<number | null> {
    try {
      const sts = await this.apps.readNamespacedStatefulSet({ namespace, name });
      return sts.spec?.replicas ?? 1;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toKubernetesError(err, `Get StatefulSet ${namespace}/${name}`);
    }
  }

  async scaleStatefulSet(namespace: string, name: string, replicas: number, key: string): Promise<void> {
    try {
      await this.apps.patchNamespacedStatefulSetScale(
        { namespace, name, body: { spec: { replicas } }, fieldManager: FIELD_MANAGER },
        merge,
      );
      this.opts.logger.info({ statefulSet: `${namespace}/${name}`, replicas, key }, `Scaled StatefulSet ${name}`);
    } catch (err) {
      throw toKubernetesError(err, `Scale StatefulSet ${namespace}/${name} to ${replicas}`);
    }
  }

  async setPodDeletionCost(namespace: string, pod: string, cost: number, key: string): Promise<void> {
    await this.patchPod(namespace, pod, { metadata: { annotations: { [POD_DELETION_COST]: String(cost) } } }, key);
  }

  async removeOwnerReference(namespace: string, pod: string, ownerUid: string, key: string): Promise<void> {
    // ownerReferences merge by uid: a strategic-merge `$patch: delete` removes just that one, and is a no-op
    // when it is gone already
    await this.patchPod(
      namespace,
      pod,
      { metadata: { ownerReferences: [{ $patch: 'delete', uid: ownerUid }] } },
      key,
      strategic,
    );
  }

  private async patchPod(
    namespace: string,
    name: string,
    body: object,
    key: string,
    strategy = merge,
  ): Promise<V1Pod | null> {
    try {
      return await this.core.patchNamespacedPod({ namespace, name, body, fieldManager: FIELD_MANAGER }, strategy);
    } catch (err) {
      if (isNotFound(err)) {
        this.opts.logger.info({ pod: `${namespace}/${name}`, key }, `Skipped patching Pod ${name}: it is gone`);
        return null;
      }
      throw toKubernetesError(err, `Patch Pod ${namespace}/${name}`);
    }
  }

  async patchDeploymentNodeAffinity(namespace: string, deployment: string, node: string, key: string): Promise<void> {
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
          ],
        },
      },
    };
    try {
      await this.apps.patchNamespacedDeployment(
        {
          namespace,
          name: deployment,
          body: { spec: { template: { spec: { affinity } } } },
          fieldManager: FIELD_MANAGER,
        },
        strategic,
      );
      this.opts.logger.info(
        { deployment: `${namespace}/${deployment}`, node, key },
        `Patched Deployment ${deployment}`,
      );
    } catch (err) {
      throw toKubernetesError(err, `Patch Deployment ${namespace}/${deployment}`);
    }
  }

  async recordEvent(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const at = new Date(this.now());
    try {
      await this.core.createNamespacedEvent({
        namespace: ref.namespace,
        body: {
          metadata: { name: `${ref.name}.${at.getTime().toString(16)}.${randomUUID().slice(0, 8)}` },
          involvedObject: {
            apiVersion: ref.apiVersion,
            kind: ref.kind,
            namespace: ref.namespace,
            name: ref.name,
            uid: ref.uid,
          },
          type,
          reason,
          message,
          count: 1,
          firstTimestamp: at,
          lastTimestamp: at,
          source: { component: this.opts.component ?? FIELD_MANAGER },
          reportingComponent: this.opts.component ?? FIELD_MANAGER,
        },
      });
    } catch (err) {
      throw toKubernetesError(err, `Record Event ${reason} on ${ref.kind} ${ref.namespace}/${ref.name}`);
    }
  }
}
