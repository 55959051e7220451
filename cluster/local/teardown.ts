/**
 * Leaves nothing behind on `down`: the containers of both nodes (and their shims, pod network namespaces, volume
 * mounts, /var/log/containers links), found through what the cluster itself made (its containerd sockets, its
 * dir), never by process or file name alone.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from './daemons.ts';
import { trySh, writeFileAtomic } from './files.ts';
import { nodePaths } from './nodes.ts';
import type { NodeTopology } from './topology.ts';

const ctr = (ctrBin: string, socket: string, args: string[]) =>
  trySh(ctrBin, ['--address', socket, '--namespace', 'k8s.io', ...args], { timeoutMs: 30_000 });

/** Network-namespace paths of the node's pod sandboxes (containerd made them; they are removed with the pods). */
async function sandboxNetns(ctrBin: string, socket: string, ids: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) {
    const info = await ctr(ctrBin, socket, ['containers', 'info', id]);
    if (!info) continue;
    try {
      const spec = (JSON.parse(info) as { Spec?: { linux?: { namespaces?: { type: string; path?: string }[] } } }).Spec;
      const path = spec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
      if (path?.startsWith('/var/run/netns/cni-') || path?.startsWith('/run/netns/cni-')) out.push(path);
    } catch {
      // not JSON: skip
    }
  }
  return out;
}

/** Kills every task of the node's containerd and deletes its containers; returns the pod netns paths seen. */
export async function removeNodeContainers(ctrBin: string, dir: string, node: NodeTopology): Promise<string[]> {
  const socket = nodePaths(dir, node).containerdSocket;
  const ids = ((await ctr(ctrBin, socket, ['containers', 'ls', '-q'])) ?? '').split('\n').filter(Boolean);
  const netns = await sandboxNetns(ctrBin, socket, ids);
  for (const id of ids) await ctr(ctrBin, socket, ['tasks', 'kill', '--signal', 'SIGKILL', id]);
  for (const id of ids) {
    for (let i = 0; i < 20; i++) {
      if ((await ctr(ctrBin, socket, ['tasks', 'delete', '--force', id])) !== null) break;
      const left = await ctr(ctrBin, socket, ['tasks', 'ls', '-q']);
      if (left !== null && !left.split('\n').includes(id)) break;
      await sleep(250);
    }
    await ctr(ctrBin, socket, ['containers', 'delete', id]);
  }
  return netns;
}

/** Processes whose command line names `needle` (a socket or dir of ours): shims left by a killed containerd. */
export function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.split('\0').some((arg) => arg.includes(needle))) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

export async function killProcesses(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (pids.length) await sleep(200);
}

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const decodeOctal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map(decodeOctal)
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string): Promise<string[]> {
  const left: string[] = [];
  for (const m of mountsUnder(dir)) {
    if ((await trySh('umount', [m])) === null && (await trySh('umount', ['-l', m])) === null) left.push(m);
  }
  return left;
}

/** Removes pod netns mounts containerd made for this cluster's sandboxes (paths collected from their specs). */
export async function removePodNetns(paths: readonly string[]): Promise<void> {
  for (const p of paths) {
    await trySh('umount', [p]);
    await rm(p, { force: true });
  }
}

/** /var/log/containers links the kubelets made that point into this cluster's dir. */
export async function removeContainerLogLinks(dir: string): Promise<void> {
  const logDir = '/var/log/containers';
  let entries: string[];
  try {
    entries = readdirSync(logDir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(logDir, e);
    try {
      if (readlinkSync(p).startsWith(`${dir}/`)) await rm(p, { force: true });
    } catch {
      // not a link
    }
  }
}

/**
 * Paths outside the cluster dir that containerd, the kubelet, CNI and CRIU create with fixed names (shim sockets
 * and fifos, the kubelet's device-plugin dir, the CNI result cache, the container-log links, CRIU's kernel-feature
 * cache). `up` records those that did not exist yet; `down` removes exactly the recorded ones.
 */
export const FIXED_PATHS = [
  '/run/containerd',
  '/run/nri',
  '/var/lib/cni',
  '/var/lib/kubelet',
  '/var/log/containers',
  '/run/criu.kdat',
] as const;

const createdFile = (dir: string) => join(dir, 'created-outside.json');

/** Records which of FIXED_PATHS do not exist yet (kept from an earlier `up` of the same cluster). */
export async function recordFixedPaths(dir: string): Promise<void> {
  let known: string[] = [];
  try {
    known = JSON.parse(await readFile(createdFile(dir), 'utf8')) as string[];
  } catch {
    // first up
  }
  const created = [...new Set([...known, ...FIXED_PATHS.filter((p) => !existsSync(p))])];
  await writeFileAtomic(createdFile(dir), `${JSON.stringify(created)}\n`);
}

/** Removes the recorded paths the cluster created outside its dir; returns those still there. */
export async function removeFixedPaths(dir: string): Promise<string[]> {
  let created: string[] = [];
  try {
    created = JSON.parse(await readFile(createdFile(dir), 'utf8')) as string[];
  } catch {
    return [];
  }
  for (const p of created) await rm(p, { recursive: true, force: true }).catch(() => {});
  return created.filter((p) => existsSync(p));
}
