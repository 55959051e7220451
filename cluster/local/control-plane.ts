/**
 * The local cluster's control plane in the cp namespace: the same components, flags and certificates as the test
 * tier's control plane (cluster/control-plane/), but bound to the bridge address with fixed ports, started as
 * detached daemons, and kept across `up` runs (the layout and its certificates are made once and reused).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveBinaries } from '../control-plane/binaries.ts';
import { apiServerArgs, controllerManagerArgs, etcdArgs, schedulerArgs } from '../control-plane/components.ts';
import { type Layout, prepareLayout } from '../control-plane/layout.ts';
import { type ProbeTls, probe } from '../control-plane/probe.ts';
import { runningDaemon, sleep, startDaemon, stopDaemon } from './daemons.ts';
import { writeFileAtomic } from './files.ts';
import { CP, PORTS } from './topology.ts';

export const CONTROL_PLANE_DAEMONS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

const layoutFile = (dir: string) => join(dir, 'control-plane', 'layout.json');

/** The persisted layout, or a new one (certificates for the bridge address, fixed ports). */
export async function controlPlaneLayout(dir: string): Promise<Layout> {
  const file = layoutFile(dir);
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as Layout;
  const cpDir = join(dir, 'control-plane');
  await mkdir(cpDir, { recursive: true });
  const layout = await prepareLayout(cpDir, CP.address, [], {
    etcdClient: PORTS.etcdClient,
    etcdPeer: PORTS.etcdPeer,
    apiserver: PORTS.apiserver,
    controllerManager: PORTS.controllerManager,
    scheduler: PORTS.scheduler,
  });
  await writeFileAtomic(file, JSON.stringify(layout, null, 2));
  return layout;
}

export async function adminTls(layout: Layout): Promise<ProbeTls> {
  const [ca, cert, key] = await Promise.all([
    readFile(layout.pki.ca.cert, 'utf8'),
    readFile(layout.pki.admin.cert, 'utf8'),
    readFile(layout.pki.admin.key, 'utf8'),
  ]);
  return { ca, cert, key };
}

/** Thrown by a wait's check to stop waiting at once (the thing waited for can no longer happen). */
export class WaitAbortedError extends Error {
  readonly code = 'CLUSTER_WAIT_ABORTED';
}

/**
 * Polls `check` every 200 ms until it answers true; the error names `what` and the last answer. A check that
 * throws counts as "not yet" (a refused connection), except WaitAbortedError, which ends the wait.
 */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<true | string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await check().catch((err: Error) => {
      if (err instanceof WaitAbortedError) throw err;
      return err.message;
    });
    if (r === true) return;
    last = r;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}: ${last}`);
    await sleep(200);
  }
}

/** Starts what is not running and waits until the API server is ready. */
export async function startControlPlaneDaemons(
  dir: string,
  binDirs: readonly string[],
  log: (line: string) => void,
): Promise<Layout> {
  const layout = await controlPlaneLayout(dir);
  const bin = resolveBinaries(CONTROL_PLANE_DAEMONS, binDirs);
  const tls = await adminTls(layout);
  const healthy = (url: string) => async () => {
    const r = await probe(url, tls);
    return r.status === 200 || `${r.status} ${r.body.slice(0, 200)}`;
  };
  const start = async (name: (typeof CONTROL_PLANE_DAEMONS)[number], args: string[]) => {
    const r = await startDaemon(dir, { name, bin: bin[name], args, netns: CP.netns });
    if (r.started) log(`started ${name} (pid ${r.pid})`);
  };
  await start('etcd', etcdArgs(layout));
  await start('kube-apiserver', apiServerArgs(layout));
  await waitFor('kube-apiserver /readyz', 60_000, healthy(`${layout.server}/readyz`));
  await start('kube-controller-manager', controllerManagerArgs(layout));
  await start('kube-scheduler', schedulerArgs(layout));
  await waitFor('namespace default', 60_000, healthy(`${layout.server}/api/v1/namespaces/default`));
  await waitFor(
    'ServiceAccount default/default (made by kube-controller-manager)',
    60_000,
    healthy(`${layout.server}/api/v1/namespaces/default/serviceaccounts/default`),
  );
  return layout;
}

export async function stopControlPlaneDaemons(dir: string): Promise<void> {
  for (const name of ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd']) {
    await stopDaemon(dir, name);
  }
}

export async function controlPlaneStatus(dir: string): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const name of CONTROL_PLANE_DAEMONS) out[name] = (await runningDaemon(dir, name))?.pid ?? null;
  return out;
}
