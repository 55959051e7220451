/**
 * The local cluster's network (topology.ts): the namespaces, the bridge in the cp namespace, one veth per node and
 * one from the host, the routes between the pod networks. Created idempotently; removed by the same module
 * (`teardownNetwork`), which removes only the names it creates.
 */
import { existsSync } from 'node:fs';
import { sh, trySh } from './files.ts';
import { CP, HOST_LINK, NODES, type NodeTopology } from './topology.ts';

const ip = (args: string[]) => sh('ip', args, { timeoutMs: 15_000 });
const inNs = (ns: string, args: string[]) => ip(['-n', ns, ...args]);
const netnsExists = (ns: string) => existsSync(`/var/run/netns/${ns}`);

async function linkExists(name: string, ns?: string): Promise<boolean> {
  return (await trySh('ip', [...(ns ? ['-n', ns] : []), 'link', 'show', 'dev', name])) !== null;
}

/** `ip route replace`: idempotent. */
const route = (ns: string | null, dst: string, via: string) =>
  ns ? inNs(ns, ['route', 'replace', dst, 'via', via]) : ip(['route', 'replace', dst, 'via', via]);

/** Enables forwarding in a namespace (a fresh namespace starts with it off). */
async function forwarding(ns: string): Promise<void> {
  await sh('nsenter', [`--net=/var/run/netns/${ns}`, '--', 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
}

/** Creates (or completes) the whole network. Safe to run again on a network that is up. */
export async function setupNetwork(): Promise<void> {
  for (const ns of [CP.netns, ...NODES.map((n) => n.netns)]) {
    if (!netnsExists(ns)) await ip(['netns', 'add', ns]);
    await inNs(ns, ['link', 'set', 'lo', 'up']);
    await forwarding(ns);
  }
  if (!(await linkExists(CP.bridge, CP.netns))) await inNs(CP.netns, ['link', 'add', CP.bridge, 'type', 'bridge']);
  await trySh('ip', ['-n', CP.netns, 'addr', 'add', `${CP.address}/${CP.prefix}`, 'dev', CP.bridge]);
  await inNs(CP.netns, ['link', 'set', CP.bridge, 'up']);

  // host <-> bridge
  if (!(await linkExists(HOST_LINK.name))) {
    await ip(['link', 'add', HOST_LINK.name, 'type', 'veth', 'peer', 'name', HOST_LINK.peer, 'netns', CP.netns]);
  }
  await trySh('ip', ['addr', 'add', `${HOST_LINK.address}/${CP.prefix}`, 'dev', HOST_LINK.name]);
  await ip(['link', 'set', HOST_LINK.name, 'up']);
  await inNs(CP.netns, ['link', 'set', HOST_LINK.peer, 'master', CP.bridge, 'up']);

  for (const node of NODES) await setupNode(node);
  // every namespace (and the host) reaches each pod network through the node that owns it
  for (const node of NODES) {
    await route(CP.netns, node.podCidr, node.address);
    await route(null, node.podCidr, node.address);
    for (const other of NODES) if (other !== node) await route(node.netns, other.podCidr, other.address);
  }
}

async function setupNode(node: NodeTopology): Promise<void> {
  if (!(await linkExists('eth0', node.netns))) {
    // created in the cp namespace, one end moved into the node and renamed eth0
    const tmp = `${node.vethBridgeSide}-n`;
    if (!(await linkExists(node.vethBridgeSide, CP.netns))) {
      await inNs(CP.netns, ['link', 'add', node.vethBridgeSide, 'type', 'veth', 'peer', 'name', tmp]);
    }
    await inNs(CP.netns, ['link', 'set', tmp, 'netns', node.netns]);
    await inNs(node.netns, ['link', 'set', tmp, 'name', 'eth0']);
  }
  await inNs(CP.netns, ['link', 'set', node.vethBridgeSide, 'master', CP.bridge, 'up']);
  await trySh('ip', ['-n', node.netns, 'addr', 'add', `${node.address}/${CP.prefix}`, 'dev', 'eth0']);
  await inNs(node.netns, ['link', 'set', 'eth0', 'up']);
  await inNs(node.netns, ['route', 'replace', 'default', 'via', CP.address]);
}

/** What of the network exists now (for `status`). */
export function networkState(): { namespaces: Record<string, boolean>; hostLink: boolean } {
  const namespaces: Record<string, boolean> = {};
  for (const ns of [CP.netns, ...NODES.map((n) => n.netns)]) namespaces[ns] = netnsExists(ns);
  return { namespaces, hostLink: existsSync(`/sys/class/net/${HOST_LINK.name}`) };
}

/**
 * Removes the host routes, the host veth and the namespaces (their veths and the bridge go with them). The
 * processes inside must be stopped first. Missing pieces are fine.
 */
export async function teardownNetwork(): Promise<void> {
  for (const node of NODES) await trySh('ip', ['route', 'del', node.podCidr, 'via', node.address]);
  if (await linkExists(HOST_LINK.name)) await ip(['link', 'del', HOST_LINK.name]);
  for (const ns of [...NODES.map((n) => n.netns), CP.netns]) {
    if (netnsExists(ns)) await ip(['netns', 'del', ns]);
  }
}
