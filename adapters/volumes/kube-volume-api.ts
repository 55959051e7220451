/**
 * What every part of the Kubernetes VolumeOps adapter (kubernetes.ts) shares: the API clients, the logger, and the
 * two patterns its calls follow: a read maps 404 to null, and a delete carries the uid the caller inspected (a
 * missing object or another uid is a no-op). Errors are typed (adapters/errors.ts, api-errors.ts).
 */
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  StorageV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { InvalidInputError } from '../errors.ts';
import { isConflict, isNotFound, toKubernetesError } from '../kubernetes/api-errors.ts';

/** The content type of a JSON merge patch. */
export const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface KubeVolumesOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
}

/**
 * @example
 * ```ts
 * const api = new KubeVolumeApi({ kubeConfig, logger });
 * const pod = await api.read('Get Pod default/db-0', () => api.core.readNamespacedPod({ namespace, name }));
 * ```
 */
export class KubeVolumeApi {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly storage: StorageV1Api;
  readonly policy: PolicyV1Api;
  readonly log: Logger;

  constructor(o: KubeVolumesOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = o.kubeConfig.makeApiClient(AppsV1Api);
    this.storage = o.kubeConfig.makeApiClient(StorageV1Api);
    this.policy = o.kubeConfig.makeApiClient(PolicyV1Api);
    this.log = o.logger;
  }

  /** `f()`, or null when the object is not found; other failures are typed errors naming `action`. */
  async read<T>(action: string, f: () => Promise<T>): Promise<T | null> {
    try {
      return await f();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toKubernetesError(err, action);
    }
  }

  /** Runs the delete `f` (which sends `precondition`); gone already or another uid: nothing to do. */
  async deleteWithUid(
    what: string,
    key: string,
    precondition: { uid: string },
    f: () => Promise<unknown>,
  ): Promise<void> {
    // without a uid the delete would hit whichever object has the name now: never send one
    if (!precondition.uid) throw new InvalidInputError(`Delete ${what}`, 'no uid precondition given');
    try {
      await f();
      this.log.info({ object: what, uid: precondition.uid, key }, `Deleted ${what}`);
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) {
        this.log.info({ object: what, uid: precondition.uid, key }, `Skipped deleting ${what}: it has another uid`);
        return;
      }
      throw toKubernetesError(err, `Delete ${what}`);
    }
  }
}
