/**
 * The cluster's images: built locally and pushed to the cluster's registry by cluster/images (content-cached),
 * named as the nodes' containerd pulls them.
 */
import { buildAndPushImages } from '../images/build.ts';
import type { ClusterImages } from './cluster.ts';
import { ENDPOINTS } from './topology.ts';

export async function buildClusterImages(registry: string, log: (line: string) => void): Promise<ClusterImages> {
  const built = await buildAndPushImages({ registry, log });
  const ref = (name: string) => {
    const r = built[name]?.ref;
    if (!r) throw new Error(`the image build did not produce ms2m/${name}`);
    // pushed from the host to the registry's address, pulled by the nodes as localhost:5000
    return r.replace(`${registry}/`, `${ENDPOINTS.registryOnNodes}/`);
  };
  return {
    pause: ref('pause'),
    agent: ref('agent'),
    operator: ref('operator'),
    workloads: ref('workloads'),
    migrator: ref('migrator'),
  };
}
