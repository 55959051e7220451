/**
 * A worker node of the local cluster: its own containerd 2.x (root, state, socket, runc root, CNI network, the
 * registry reached over plain http, CRIU first in PATH) and a real kubelet (`--node-ip`, own root dir and pod log
 * dir, serving certificate from the cluster CA for its InternalIP, client certificate `system:node:<name>`), both
 * inside the node's network namespace (`nsenter --net`: `ip netns exec` remounts /sys and the kubelet then fails,
 * ARCHITECTURE.md §8). The settings these hosts need (hybrid cgroups, no CAP_SYS_RESOURCE) are §8's.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Layout } from '../control-plane/layout.ts';
import { createClientCert, createServingCert, writeKubeconfig } from '../control-plane/pki.ts';
import { WaitAbortedError, waitFor } from './control-plane.ts';
import { logPath, runningDaemon, startDaemon, stopDaemon } from './daemons.ts';
import { trySh, writeFileAtomic } from './files.ts';
import { ENDPOINTS, type NodeTopology, PORTS } from './topology.ts';

export interface NodeBinaries {
  kubelet: string;
  containerd: string;
  /** Dirs put first on containerd's PATH: CRIU's, then the one with containerd-shim-runc-v2. */
  pathDirs: readonly string[];
  runc: string;
  cniBinDir: string;
  ctr: string;
}

/** Where one node keeps everything (all under the cluster dir, so `down` knows what is the cluster's). */
export function nodePaths(dir: string, node: NodeTopology) {
  const base = join(dir, 'nodes', node.name);
  return {
    base,
    containerdRoot: join(base, 'containerd', 'root'),
    containerdState: join(base, 'containerd', 'state'),
    containerdSocket: join(base, 'containerd', 'containerd.sock'),
    containerdConfig: join(base, 'containerd', 'config.toml'),
    registryHosts: join(base, 'containerd', 'certs.d'),
    runcRoot: join(base, 'runc'),
    cniConfDir: join(base, 'cni', 'net.d'),
    cniDataDir: join(base, 'cni', 'ipam'),
    kubeletRoot: join(base, 'kubelet'),
    kubeletConfig: join(base, 'kubelet-config.json'),
    kubeletKubeconfig: join(base, 'kubelet.kubeconfig'),
    podLogs: join(base, 'pod-logs'),
    pki: join(base, 'pki'),
    /** The kubelet's checkpoint API writes here. */
    checkpoints: join(base, 'kubelet', 'checkpoints'),
  };
}

export const containerdDaemon = (node: NodeTopology) => `containerd-${node.name}`;
export const kubeletDaemon = (node: NodeTopology) => `kubelet-${node.name}`;
export const registryProxyDaemon = (node: NodeTopology) => `registry-proxy-${node.name}`;

function containerdConfig(p: ReturnType<typeof nodePaths>, bins: NodeBinaries, pauseImage: string): string {
  const q = JSON.stringify;
  return `# written by ms2m cluster up (cluster/local/nodes.ts)
version = 3
root = ${q(p.containerdRoot)}
state = ${q(p.containerdState)}

[grpc]
  address = ${q(p.containerdSocket)}

[ttrpc]
  address = ${q(`${p.containerdSocket}.ttrpc`)}

# no NRI plugins here (it would listen on /run/nri)
[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${q(pauseImage)}
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = ${q(p.registryHosts)}

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  disable_apparmor = true
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE: every sandbox would fail (ARCHITECTURE.md §8)
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${q(bins.runc)}
        Root = ${q(p.runcRoot)}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${q(bins.cniBinDir)}]
    conf_dir = ${q(p.cniConfDir)}
`;
}

function cniConfig(node: NodeTopology, p: ReturnType<typeof nodePaths>): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'ms2m',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: node.podCidr, gateway: node.podGateway }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: p.cniDataDir,
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

function kubeletConfig(
  node: NodeTopology,
  p: ReturnType<typeof nodePaths>,
  layout: Layout,
  serving: { cert: string; key: string },
) {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: node.address,
    port: PORTS.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    tlsCertFile: serving.cert,
    tlsPrivateKeyFile: serving.key,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: layout.pki.ca.cert },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
    podLogsDir: p.podLogs,
    // hybrid cgroups v1 without CAP_SYS_RESOURCE (ARCHITECTURE.md §8)
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    // a shared disk: never evict or garbage-collect images because of the host's own usage
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    registerNode: true,
    nodeStatusUpdateFrequency: '4s',
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
    maxPods: 50,
    clusterDomain: 'cluster.local',
    resolvConf: '/etc/resolv.conf',
  };
}

/** Certificates, kubeconfig and configs of `node`; rewritten only when their content changes. */
async function prepareNode(dir: string, node: NodeTopology, layout: Layout, bins: NodeBinaries, pauseImage: string) {
  const p = nodePaths(dir, node);
  for (const d of [
    p.containerdRoot,
    p.containerdState,
    p.runcRoot,
    p.cniConfDir,
    p.cniDataDir,
    p.kubeletRoot,
    p.podLogs,
    p.pki,
    p.checkpoints,
  ]) {
    await mkdir(d, { recursive: true });
  }
  const servingPath = { cert: join(p.pki, 'kubelet-serving.crt'), key: join(p.pki, 'kubelet-serving.key') };
  const serving = existsSync(servingPath.cert)
    ? servingPath
    : await createServingCert(p.pki, layout.pki.ca, 'kubelet-serving', node.name, [
        `IP:${node.address}`,
        `DNS:${node.name}`,
      ]);
  if (!existsSync(p.kubeletKubeconfig)) {
    const client = await createClientCert(p.pki, layout.pki.ca, 'kubelet-client', {
      user: `system:node:${node.name}`,
      groups: ['system:nodes'],
    });
    await writeKubeconfig(p.kubeletKubeconfig, layout.server, layout.pki.ca, client, `system:node:${node.name}`);
  }
  await writeFileAtomic(join(p.cniConfDir, '10-ms2m.conflist'), cniConfig(node, p));
  for (const registry of [ENDPOINTS.registry, ENDPOINTS.registryOnNodes]) {
    await writeFileAtomic(
      join(p.registryHosts, registry, 'hosts.toml'),
      `server = "http://${registry}"\n\n[host."http://${registry}"]\n  capabilities = ["pull", "resolve", "push"]\n`,
    );
  }
  await writeFileAtomic(p.kubeletConfig, `${JSON.stringify(kubeletConfig(node, p, layout, serving), null, 2)}\n`);
  const config = containerdConfig(p, bins, pauseImage);
  const changed = (await readFile(p.containerdConfig, 'utf8').catch(() => '')) !== config;
  if (changed) await writeFileAtomic(p.containerdConfig, config);
  return { p, containerdConfigChanged: changed };
}

/** Starts (or completes) containerd and the kubelet of `node`. A changed containerd config restarts containerd. */
export async function startNode(
  dir: string,
  node: NodeTopology,
  layout: Layout,
  bins: NodeBinaries,
  pauseImage: string,
  log: (line: string) => void,
): Promise<void> {
  const { p, containerdConfigChanged } = await prepareNode(dir, node, layout, bins, pauseImage);
  if (containerdConfigChanged && (await runningDaemon(dir, containerdDaemon(node)))) {
    log(`${node.name}: containerd config changed, restarting containerd (running pods keep running)`);
    await stopDaemon(dir, containerdDaemon(node));
  }
  // localhost:5000 on the node reaches the registry (see ENDPOINTS.registryOnNodes)
  const proxy = await startDaemon(dir, {
    name: registryProxyDaemon(node),
    bin: 'socat',
    args: [`TCP-LISTEN:${PORTS.registry},bind=127.0.0.1,fork,reuseaddr`, `TCP:${ENDPOINTS.registry}`],
    netns: node.netns,
  });
  if (proxy.started) log(`${node.name}: started the registry proxy localhost:${PORTS.registry} (pid ${proxy.pid})`);
  const env = {
    ...process.env,
    PATH: [...bins.pathDirs, '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'),
  };
  const c = await startDaemon(dir, {
    name: containerdDaemon(node),
    bin: bins.containerd,
    args: ['--config', p.containerdConfig, '--log-level', 'warn'],
    netns: node.netns,
    env,
  });
  if (c.started) log(`${node.name}: started containerd (pid ${c.pid})`);
  // the kubelet exits at once when the CRI socket does not answer yet
  await waitFor(`${node.name}: containerd's CRI on ${p.containerdSocket}`, 30_000, async () => {
    if (!(await runningDaemon(dir, containerdDaemon(node)))) {
      throw new WaitAbortedError(`containerd of ${node.name} exited: see ${logPath(dir, containerdDaemon(node))}`);
    }
    const out = await trySh(bins.ctr, ['--address', p.containerdSocket, 'plugins', 'ls'], { timeoutMs: 5000 });
    return (out !== null && /io\.containerd\.grpc\.v1\s+cri\s+.*ok/.test(out)) || 'CRI plugin not serving yet';
  });
  const k = await startDaemon(dir, {
    name: kubeletDaemon(node),
    bin: bins.kubelet,
    args: [
      `--config=${p.kubeletConfig}`,
      `--kubeconfig=${p.kubeletKubeconfig}`,
      `--node-ip=${node.address}`,
      `--hostname-override=${node.name}`,
      `--root-dir=${p.kubeletRoot}`,
      '--v=1',
    ],
    netns: node.netns,
    env,
  });
  if (k.started) log(`${node.name}: started kubelet (pid ${k.pid})`);
}

/** Stops the kubelet, then containerd, of `node` (by PID). Containers must be gone first (see teardown.ts). */
export async function stopNodeDaemons(dir: string, node: NodeTopology): Promise<void> {
  await stopDaemon(dir, kubeletDaemon(node));
  await stopDaemon(dir, containerdDaemon(node));
  // socat forks a child per connection, in its process group
  await stopDaemon(dir, registryProxyDaemon(node), { group: true });
}
