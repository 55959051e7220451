/**
 * Global setup of the `cluster` tier: the real local cluster (two kubelets on containerd + runc + CRIU, RabbitMQ,
 * NATS, the registry, the operator as a Deployment), brought up once for the run and handed to the test files as
 * `inject('cluster')`. A cluster that was already up (a developer's `ms2m cluster up`) is used and left up; one
 * this run started is taken down at the end (MS2M_KEEP_CLUSTER=1 keeps it).
 */
import type { TestProject } from 'vitest/node';
import { type ClusterInfo, clusterDown, clusterStatus, clusterUp } from '../../../cluster/local/cluster.ts';
import { buildClusterImages } from '../../../cluster/local/images.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const before = await clusterStatus();
  const wasUp = before.apiserver === 'ready';
  const log = (line: string) => console.log(`[cluster] ${line}`);
  const info = await clusterUp({ buildImages: buildClusterImages, log });
  project.provide('cluster', info);
  return async () => {
    if (!wasUp && process.env.MS2M_KEEP_CLUSTER !== '1') {
      // `down` must leave nothing behind: processes, mounts, namespaces, veths, the cluster dir
      const left = await clusterDown({ log });
      if (left.length) throw new Error(`ms2m cluster down left behind: ${left.join('; ')}`);
    }
  };
}
