/**
 * The local cluster's fixed topology: three network namespaces the project creates and removes itself, their
 * addresses, the pod networks and the ports of the shared services (ARCHITECTURE.md §6, §8).
 *
 *   host ── ms2m-host (10.210.0.254) ──┐
 *                                      │  bridge ms2m-br in netns ms2m-cp (10.210.0.1): etcd, kube-apiserver,
 *   netns ms2m-node-a (10.210.0.2) ────┤  controller-manager, scheduler, RabbitMQ, nats-server, registry
 *   netns ms2m-node-b (10.210.0.3) ────┘
 *
 * Pods of node-a get 10.211.1.0/24, of node-b 10.211.2.0/24 (Debian's bridge + host-local CNI plugins); every
 * namespace routes the other pod networks through the node that owns them, so pods reach each other, the shared
 * services and the host, and the host reaches pods. No address outside these namespaces is ever a target.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Control-plane and shared-services namespace and its bridge address. */
export const CP = { netns: 'ms2m-cp', bridge: 'ms2m-br', address: '10.210.0.1', prefix: 24 } as const;
/** The host end of the veth onto the bridge. */
export const HOST_LINK = { name: 'ms2m-host', peer: 'ms2m-host-br', address: '10.210.0.254' } as const;
export const BRIDGE_CIDR = '10.210.0.0/24';

export interface NodeTopology {
  /** Kubernetes node name. */
  readonly name: string;
  readonly netns: string;
  /** InternalIP: the kubelet listens here and the API server reaches it here. */
  readonly address: string;
  readonly podCidr: string;
  /** The bridge (cni0) address inside the node: the pods' gateway. */
  readonly podGateway: string;
  /** veth names: `hostSide` lives in the cp namespace on the bridge, the other end is `eth0` in the node. */
  readonly vethBridgeSide: string;
}

export const NODES: readonly NodeTopology[] = [
  {
    name: 'node-a',
    netns: 'ms2m-node-a',
    address: '10.210.0.2',
    podCidr: '10.211.1.0/24',
    podGateway: '10.211.1.1',
    vethBridgeSide: 'ms2m-a-br',
  },
  {
    name: 'node-b',
    netns: 'ms2m-node-b',
    address: '10.210.0.3',
    podCidr: '10.211.2.0/24',
    podGateway: '10.211.2.1',
    vethBridgeSide: 'ms2m-b-br',
  },
];

export const nodeNamed = (name: string): NodeTopology => {
  const n = NODES.find((x) => x.name === name);
  if (!n)
    throw new Error(`no node named '${name}' in the local cluster (nodes: ${NODES.map((x) => x.name).join(', ')})`);
  return n;
};

/** Ports inside the cp namespace (its own network stack: fixed ports never clash with the host's). */
export const PORTS = {
  etcdClient: 2379,
  etcdPeer: 2380,
  apiserver: 6443,
  controllerManager: 10257,
  scheduler: 10259,
  amqp: 5672,
  rabbitManagement: 15672,
  rabbitDist: 25672,
  epmd: 4369,
  nats: 4222,
  registry: 5000,
  kubelet: 10250,
  agent: 7443,
} as const;

/** RabbitMQ's collect_statistics_interval here: the replay depth the operator reads is at most ~2 intervals old. */
export const RABBIT_STATS_INTERVAL_MS = 500;

/** Where the shared services are reached from the host, the pods and the operator. */
export const ENDPOINTS = {
  apiserver: `https://${CP.address}:${PORTS.apiserver}`,
  amqp: `amqp://guest:guest@${CP.address}:${PORTS.amqp}`,
  rabbitManagement: `http://${CP.address}:${PORTS.rabbitManagement}`,
  nats: `nats://${CP.address}:${PORTS.nats}`,
  registry: `${CP.address}:${PORTS.registry}`,
  /**
   * The registry as the nodes name it: each node forwards its loopback port 5000 to the registry. containerd
   * treats `localhost` registries as plain http everywhere, including the base-image pull of a checkpoint
   * restore, which ignores the CRI registry configuration.
   */
  registryOnNodes: `localhost:${PORTS.registry}`,
} as const;

/** The cluster's state dir (certificates, data, logs, PID files): `MS2M_CLUSTER_DIR`, default `/var/lib/ms2m/cluster`. */
export function clusterDir(): string {
  return (
    process.env.MS2M_CLUSTER_DIR ??
    (process.getuid?.() === 0 ? '/var/lib/ms2m/cluster' : join(homedir(), '.local/state/ms2m/cluster'))
  );
}

/** The admin kubeconfig of a cluster that is up. */
export const adminKubeconfig = (dir = clusterDir()): string => join(dir, 'control-plane', 'admin.kubeconfig');
