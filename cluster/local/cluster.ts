/**
 * `ms2m cluster up|down|status`: the whole local cluster (ARCHITECTURE.md §6) on one machine. `up` is idempotent
 * (it starts only what is not running) and prints a line per step; `down` leaves nothing behind: processes (by
 * their PID files), containers and shims, mounts, pod and node network namespaces, veths, routes, the CRIU config
 * it wrote, and the cluster dir.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { binaryDirs, isExecutable, resolveBinaries } from '../control-plane/binaries.ts';
import { probe } from '../control-plane/probe.ts';
import { tailLog } from '../control-plane/process.ts';
import { checkCriu } from '../criu/criu.ts';
import {
  adminTls,
  controlPlaneLayout,
  controlPlaneStatus,
  startControlPlaneDaemons,
  stopControlPlaneDaemons,
  WaitAbortedError,
  waitFor,
} from './control-plane.ts';
import { ensureCriuConfig, removeCriuConfig } from './criu-config.ts';
import { alive, logPath, runningDaemon, runningDaemons, stopDaemon } from './daemons.ts';
import { installMs2m, type Kubectl, kubectl } from './install.ts';
import { installLocalVolumes, LOCAL_VOLUMES_DAEMON, removeLocalVolumeDirs } from './local-volumes.ts';
import { networkState, setupNetwork, teardownNetwork } from './network.ts';
import {
  containerdDaemon,
  kubeletDaemon,
  nodePaths,
  registryProxyDaemon,
  startNode,
  stopNodeDaemons,
} from './nodes.ts';
import { servicesStatus, startServices, stopServices } from './services.ts';
import {
  killProcesses,
  mountsUnder,
  processesMentioning,
  recordFixedPaths,
  removeContainerLogLinks,
  removeFixedPaths,
  removeNodeContainers,
  removePodNetns,
  unmountUnder,
} from './teardown.ts';
import { adminKubeconfig, CP, clusterDir, ENDPOINTS, HOST_LINK, NODES } from './topology.ts';

/** A requirement of the local cluster is missing; the message says what to do. */
export class ClusterPrerequisiteError extends Error {
  readonly code = 'CLUSTER_PREREQUISITE_MISSING';
  constructor(message: string) {
    super(message);
    this.name = 'ClusterPrerequisiteError';
  }
}

/** Images the cluster runs, as `registry/name:tag` references. */
export interface ClusterImages {
  pause: string;
  agent: string;
  operator: string;
  workloads: string;
  /** VolumeResize's rclone image (cluster/images/migrator.ts). */
  migrator: string;
}

export interface UpOptions {
  /** Builds and pushes the images to `registry` (host:port), returns their references. */
  buildImages: (registry: string, log: (line: string) => void) => Promise<ClusterImages>;
  /** Install the operator Deployment (default true; tests that run the operator themselves say false). */
  operator?: boolean;
  log?: (line: string) => void;
  dir?: string;
}

export interface ClusterInfo {
  dir: string;
  kubeconfig: string;
  server: string;
  images: ClusterImages;
  endpoints: typeof ENDPOINTS;
  kubectl: string;
  ctr: string;
  nodes: { name: string; address: string; containerdSocket: string; checkpoints: string }[];
}

/** Capability and installation checks, with what to do for each. */
export function checkPrerequisites(): void {
  if (process.getuid?.() !== 0) {
    throw new ClusterPrerequisiteError(
      'the local cluster needs root (network namespaces, mounts, containerd, CRIU): run it as root',
    );
  }
  try {
    execFileSync('unshare', ['--net', 'true'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    throw new ClusterPrerequisiteError(
      'cannot create a network namespace (`unshare --net true` failed): the local cluster needs CAP_NET_ADMIN and CAP_SYS_ADMIN',
    );
  }
  const need: [string, string][] = [
    ['/usr/sbin/runc', 'apt-get install runc (scripts/install-criu.sh installs it)'],
    ['/usr/lib/cni/bridge', 'apt-get install containernetworking-plugins (scripts/install-criu.sh installs it)'],
    ['/usr/lib/cni/host-local', 'apt-get install containernetworking-plugins'],
    ['/usr/lib/cni/loopback', 'apt-get install containernetworking-plugins'],
    ['/usr/lib/rabbitmq/bin/rabbitmq-server', 'bash scripts/install-rabbitmq.sh'],
    ['/usr/bin/nsenter', 'apt-get install util-linux'],
  ];
  for (const [path, fix] of need) {
    if (!isExecutable(path)) throw new ClusterPrerequisiteError(`${path} is missing: ${fix}`);
  }
  for (const bin of ['nats-server', 'docker-registry', 'epmd', 'ip', 'socat']) {
    try {
      execFileSync('bash', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      throw new ClusterPrerequisiteError(`${bin} is not on PATH: run \`bash scripts/setup.sh\``);
    }
  }
}

function binaries() {
  const dirs = binaryDirs({ nodes: true });
  const bin = resolveBinaries(['kubelet', 'containerd', 'containerd-shim-runc-v2', 'ctr', 'kubectl'], dirs);
  return { dirs, bin };
}

/**
 * Brings the whole local cluster up (or completes it) and returns how to reach it.
 *
 * @example
 * ```ts
 * const info = await clusterUp({ buildImages: buildClusterImages, log: console.log });
 * // KUBECONFIG=info.kubeconfig kubectl get nodes
 * ```
 */
export async function clusterUp(opts: UpOptions): Promise<ClusterInfo> {
  const log = opts.log ?? (() => {});
  const dir = opts.dir ?? clusterDir();
  const t0 = Date.now();
  const step = (n: number, what: string) => log(`[${n}/7] ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);

  step(1, 'checking prerequisites');
  checkPrerequisites();
  const { dirs, bin } = binaries();
  // the private CRIU (scripts/install-criu.sh) must exist and pass `criu check`
  const criu = dirname((await checkCriu()).path);
  const warning = await ensureCriuConfig();
  if (warning) log(`warning: ${warning}`);

  step(2, `network namespaces ${CP.netns}, ${NODES.map((n) => n.netns).join(', ')}`);
  await setupNetwork();

  step(3, 'RabbitMQ, nats-server and the registry');
  await startServices(dir, log);

  step(4, 'images');
  const images = await opts.buildImages(ENDPOINTS.registry, log);

  step(5, 'control plane');
  const layout = await startControlPlaneDaemons(dir, dirs, log);

  step(6, `nodes ${NODES.map((n) => n.name).join(', ')}`);
  await recordFixedPaths(dir);
  const shimDir = dirs.find((d) => existsSync(join(d, 'containerd-shim-runc-v2')));
  for (const node of NODES) {
    await startNode(
      dir,
      node,
      layout,
      {
        kubelet: bin.kubelet,
        containerd: bin.containerd,
        pathDirs: [criu, ...(shimDir ? [shimDir] : [])],
        runc: '/usr/sbin/runc',
        cniBinDir: '/usr/lib/cni',
        ctr: bin.ctr,
      },
      images.pause,
      log,
    );
  }
  const k: Kubectl = { bin: bin.kubectl, kubeconfig: layout.kubeconfigs.admin };
  await waitFor('both nodes Ready', 90_000, async () => {
    for (const node of NODES) {
      if (!(await runningDaemon(dir, kubeletDaemon(node)))) {
        const path = logPath(dir, kubeletDaemon(node));
        throw new WaitAbortedError(
          `the kubelet of ${node.name} exited; the end of ${path}:\n${await tailLog(path, 15)}`,
        );
      }
    }
    const out = await kubectl(k, [
      'get',
      'nodes',
      '-o',
      'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}',
    ]);
    const ready = out
      .trim()
      .split(' ')
      .filter((x) => x.endsWith('=True')).length;
    return ready === NODES.length || `Ready: ${out.trim() || '(no nodes yet)'}`;
  });

  step(7, 'CRD, RBAC, node agents and operator');
  await installMs2m(k, images, dir, { operator: opts.operator ?? true });
  await installLocalVolumes(k, dir, log);
  await kubectl(k, ['-n', 'ms2m-system', 'rollout', 'status', 'daemonset/ms2m-agent', '--timeout=120s'], 130_000);
  if (opts.operator ?? true) {
    await kubectl(k, ['-n', 'ms2m-system', 'rollout', 'status', 'deployment/ms2m-operator', '--timeout=120s'], 130_000);
  }
  log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s: KUBECONFIG=${layout.kubeconfigs.admin}`);
  return {
    dir,
    kubeconfig: layout.kubeconfigs.admin,
    server: layout.server,
    images,
    endpoints: ENDPOINTS,
    kubectl: bin.kubectl,
    ctr: bin.ctr,
    nodes: NODES.map((n) => ({
      name: n.name,
      address: n.address,
      containerdSocket: nodePaths(dir, n).containerdSocket,
      checkpoints: nodePaths(dir, n).checkpoints,
    })),
  };
}

/**
 * Stops and removes everything `up` made. Safe on a cluster that is half up or already down. Returns what could
 * not be removed (empty when nothing is left behind), each named; `ms2m cluster down` prints them.
 */
export async function clusterDown(opts: { log?: (line: string) => void; dir?: string } = {}): Promise<string[]> {
  const log = opts.log ?? (() => {});
  const dir = opts.dir ?? clusterDir();
  const daemons = await runningDaemons(dir);
  let ctrBin: string | null = null;
  try {
    ctrBin = binaries().bin.ctr;
  } catch {
    // no binaries: nothing can have run containers
  }
  const podNetns: string[] = [];
  // the kubelets first, or they restart what is removed below; containerd stays up to remove its containers
  for (const node of NODES) await stopDaemon(dir, kubeletDaemon(node));
  await stopDaemon(dir, LOCAL_VOLUMES_DAEMON);
  for (const node of NODES) {
    if (ctrBin && (await runningDaemon(dir, containerdDaemon(node)))) {
      log(`${node.name}: removing containers`);
      podNetns.push(...(await removeNodeContainers(ctrBin, dir, node)));
    }
  }
  log('stopping node containerds, control plane and services');
  for (const node of NODES) await stopNodeDaemons(dir, node).catch(() => {});
  // shims of a containerd that was killed: their command line names our containerd socket
  for (const node of NODES) await killProcesses(processesMentioning(nodePaths(dir, node).containerdSocket));
  await stopControlPlaneDaemons(dir);
  await stopServices(dir);
  await removePodNetns(podNetns);
  const left = await unmountUnder(dir);
  if (left.length) log(`warning: could not unmount ${left.join(', ')}`);
  await removeContainerLogLinks(dir);
  const volumesLeft = await removeLocalVolumeDirs(dir);
  const fixedLeft = await removeFixedPaths(dir);
  log('removing network namespaces, veths and routes');
  await teardownNetwork();
  await removeCriuConfig();
  if (left.length === 0) await rm(dir, { recursive: true, force: true });
  const leftovers = [
    ...daemons.filter((d) => alive(d.pid, d.startTime)).map((d) => `process ${d.name} (pid ${d.pid})`),
    ...NODES.flatMap((n) =>
      processesMentioning(nodePaths(dir, n).containerdSocket).map((pid) => `process ${pid} of ${n.name}'s containerd`),
    ),
    ...Object.entries(networkState().namespaces)
      .filter(([, up]) => up)
      .map(([ns]) => `network namespace ${ns}`),
    ...(networkState().hostLink ? [`veth ${HOST_LINK.name}`] : []),
    ...podNetns.filter((p) => existsSync(p)).map((p) => `pod network namespace ${p}`),
    ...mountsUnder(dir).map((m) => `mount ${m}`),
    ...fixedLeft.map((p) => `path ${p}`),
    ...volumesLeft.map((p) => `local volume dir ${p}`),
    ...(existsSync(dir) ? [`dir ${dir}`] : []),
  ];
  for (const l of leftovers) log(`warning: left behind: ${l}`);
  log(leftovers.length ? `cluster down, ${leftovers.length} things left behind` : 'cluster down: nothing left behind');
  return leftovers;
}

export interface ClusterStatus {
  dir: string;
  network: ReturnType<typeof networkState>;
  processes: Record<string, number | null>;
  apiserver: 'ready' | 'not ready' | 'down';
  nodes: Record<string, string>;
  kubeconfig: string | null;
}

/** What is running, read-only. */
export async function clusterStatus(opts: { dir?: string } = {}): Promise<ClusterStatus> {
  const dir = opts.dir ?? clusterDir();
  const processes: Record<string, number | null> = {
    ...(await controlPlaneStatus(dir)),
    ...(await servicesStatus(dir)),
  };
  for (const node of NODES) {
    processes[containerdDaemon(node)] = (await runningDaemon(dir, containerdDaemon(node)))?.pid ?? null;
    processes[kubeletDaemon(node)] = (await runningDaemon(dir, kubeletDaemon(node)))?.pid ?? null;
    processes[registryProxyDaemon(node)] = (await runningDaemon(dir, registryProxyDaemon(node)))?.pid ?? null;
  }
  processes[LOCAL_VOLUMES_DAEMON] = (await runningDaemon(dir, LOCAL_VOLUMES_DAEMON))?.pid ?? null;
  let apiserver: ClusterStatus['apiserver'] = 'down';
  const nodes: Record<string, string> = {};
  const kubeconfig = existsSync(adminKubeconfig(dir)) ? adminKubeconfig(dir) : null;
  if (kubeconfig && processes['kube-apiserver']) {
    const layout = await controlPlaneLayout(dir);
    const tls = await adminTls(layout);
    const r = await probe(`${layout.server}/readyz`, tls).catch(() => null);
    apiserver = r?.status === 200 ? 'ready' : 'not ready';
    if (apiserver === 'ready') {
      const res = await probe(`${layout.server}/api/v1/nodes`, tls);
      const list = JSON.parse(res.body) as {
        items?: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
      };
      for (const n of list.items ?? []) {
        nodes[n.metadata.name] =
          n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady';
      }
    }
  }
  return { dir, network: networkState(), processes, apiserver, nodes, kubeconfig };
}
