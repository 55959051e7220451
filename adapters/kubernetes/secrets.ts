/** Reading one key of a Secret with the operator's own credentials (for `spec.brokerSecretRef`). */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { isNotFound, toKubernetesError } from './api-errors.ts';

/**
 * A reader of Secret keys; it answers null when the Secret or the key is missing, and a typed error otherwise.
 *
 * @example
 * ```ts
 * const url = await secretReader(kc)('default', 'broker', 'url');
 * ```
 */
export function secretReader(kc: KubeConfig): (namespace: string, name: string, key: string) => Promise<string | null> {
  const core = kc.makeApiClient(CoreV1Api);
  return async (namespace, name, key) => {
    try {
      const value = (await core.readNamespacedSecret({ namespace, name })).data?.[key];
      return value === undefined ? null : Buffer.from(value, 'base64').toString('utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toKubernetesError(err, `Get Secret ${namespace}/${name}`);
    }
  };
}
