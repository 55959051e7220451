import type https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { InvalidInputError } from '../errors.ts';
import { createKubeletClient, type KubeletClientOptions } from './kubelet.ts';
import type { Kubelet } from './port.ts';

/**
 * Builds the kubelet checkpoint client from a kubeconfig (file, or the default chain: $KUBECONFIG,
 * ~/.kube/config, in-cluster). TLS (ca/cert/key) and credentials come from `KubeConfig.applyToHTTPSOptions`.
 *
 * @example
 * ```ts
 * const kubelet = await kubeletFromKubeconfig({ file: '/etc/ms2m/kubeconfig' });
 * ```
 */
export async function kubeletFromKubeconfig(
  opts: { file?: string; kubeConfig?: KubeConfig } & Omit<KubeletClientOptions, 'server' | 'tls'> = {},
): Promise<Kubelet> {
  const kc = opts.kubeConfig ?? new KubeConfig();
  if (!opts.kubeConfig) {
    if (opts.file) kc.loadFromFile(opts.file);
    else kc.loadFromDefault();
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new InvalidInputError('kubeconfig', 'has no current cluster: set current-context');
  const tls: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const { file: _f, kubeConfig: _k, ...rest } = opts;
  return createKubeletClient({ ...rest, server: cluster.server, tls });
}
