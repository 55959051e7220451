/**
 * A real Kubernetes control plane on loopback: etcd + kube-apiserver (RBAC, certificates generated at start,
 * service-account keys) + kube-controller-manager + kube-scheduler, on free ports with a private dir, stopped by
 * PID. Binaries come from `cluster/build.sh`'s cache. No kubelet: pods are created but never run.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryDirs, resolveBinaries } from './binaries.ts';
import { apiServerArgs, controllerManagerArgs, etcdArgs, etcdUrl, schedulerArgs } from './components.ts';
import { prepareLayout } from './layout.ts';
import { type CertPair, createClientCert, writeKubeconfig } from './pki.ts';
import { NotReadyError, type ProbeTls, probe, waitUntil } from './probe.ts';
import { type ServerProcess, startServer, stopServer, tailLog } from './process.ts';

export interface ControlPlaneOptions {
  /** Dirs with the binaries (first match wins). Default: `MS2M_BIN_PATH`, else `cluster/build.sh`'s cache. */
  binDirs?: readonly string[];
  /** Address the API server binds to, advertises and is reached at. Default `127.0.0.1`. */
  address?: string;
  /** Extra subjectAltNames of the API server's certificate, e.g. `['IP:10.210.0.1']`. */
  extraSans?: readonly string[];
  /** Start kube-controller-manager (default true). Without it the default ServiceAccount is not awaited. */
  controllerManager?: boolean;
  /** Start kube-scheduler (default true). */
  scheduler?: boolean;
  /** Extra flags per component, appended (a later flag wins). */
  etcdArgs?: readonly string[];
  apiServerArgs?: readonly string[];
  controllerManagerArgs?: readonly string[];
  schedulerArgs?: readonly string[];
  /** Deadline for each readiness wait (default 60 s). */
  readyTimeoutMs?: number;
  /** Parent of the private dir (default the OS temp dir). */
  parentDir?: string;
  /** Leave the private dir (logs, etcd data, certificates) in place after `stop()`. */
  keepDir?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What a test or tool needs to reach the control plane: plain data, so vitest can `provide` it. */
export interface ControlPlaneInfo {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** Kubeconfig of the admin user (group `system:masters`). */
  readonly kubeconfigPath: string;
  readonly caPem: string;
  readonly caCertPath: string;
  /** The CA's key: signs client certificates for test users (`makeUserKubeconfig`). */
  readonly caKeyPath: string;
  readonly adminCertPath: string;
  readonly adminKeyPath: string;
  /** The private dir: `pki/`, `logs/<component>.log`, `etcd/`, kubeconfigs. */
  readonly dir: string;
  /** kubectl of the same Kubernetes version, if it is in the binary dirs. */
  readonly kubectlPath: string | null;
  readonly pids: Readonly<Record<string, number>>;
  /** From the first process spawned to ready (ms). */
  readonly startMs: number;
}

export interface ControlPlane extends ControlPlaneInfo {
  /** The same fields as plain data (no functions). */
  readonly info: ControlPlaneInfo;
  /** A kubeconfig for a client certificate of `user` in `groups` (for RBAC tests); returns its path. */
  makeUserKubeconfig(user: string, groups?: readonly string[]): Promise<string>;
  /** Stops every process by PID (SIGTERM, then SIGKILL) and removes the private dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler and waits until the API server is
 * ready, the components are healthy and the controller manager has created the `default` ServiceAccount.
 *
 * @example
 * ```ts
 * const cp = await startControlPlane();
 * const kc = new KubeConfig();
 * kc.loadFromFile(cp.kubeconfigPath);
 * const alice = await cp.makeUserKubeconfig('alice', ['devs']);
 * await cp.stop();
 * ```
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const address = opts.address ?? '127.0.0.1';
  const timeout = opts.readyTimeoutMs ?? 60_000;
  const withCm = opts.controllerManager ?? true;
  const withScheduler = opts.scheduler ?? true;
  const dirs = opts.binDirs ?? binaryDirs();
  const bin = resolveBinaries(
    [
      'etcd',
      'kube-apiserver',
      ...(withCm ? ['kube-controller-manager' as const] : []),
      ...(withScheduler ? ['kube-scheduler' as const] : []),
    ],
    dirs,
  );
  const kubectlPath = (() => {
    try {
      return resolveBinaries(['kubectl'], dirs).kubectl;
    } catch {
      return null;
    }
  })();

  const dir = await mkdtemp(join(opts.parentDir ?? tmpdir(), 'ms2m-control-plane-'));
  const procs: ServerProcess[] = [];
  // the Node process exits without stop() (an uncaught error, a signal that exits): process.ts kills the
  // servers, this removes their dir
  const removeDirAtExit = () => {
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', removeDirAtExit);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', removeDirAtExit);
    // clients first, then the API server, then its storage
    const byName = (n: string) => procs.filter((p) => p.name === n);
    await Promise.all([...byName('kube-scheduler'), ...byName('kube-controller-manager')].map((p) => stopServer(p)));
    await Promise.all(byName('kube-apiserver').map((p) => stopServer(p)));
    await Promise.all(byName('etcd').map((p) => stopServer(p)));
    if (!opts.keepDir) await rm(dir, { recursive: true, force: true });
  };

  try {
    const t0 = Date.now();
    const layout = await prepareLayout(dir, address, opts.extraSans);
    log(`control plane: certificates and kubeconfigs in ${Date.now() - t0} ms`);
    const start = (name: string, path: string, args: string[]) => {
      const p = startServer(name, path, args, join(layout.logDir, `${name}.log`));
      procs.push(p);
      return p;
    };
    const tStart = Date.now();
    // etcd and the API server at once (it retries etcd); the others once it is ready: they exit when their
    // delegated authentication cannot read its config from the API server at start
    const etcd = start('etcd', bin.etcd, [...etcdArgs(layout), ...(opts.etcdArgs ?? [])]);
    const apiserver = start('kube-apiserver', bin['kube-apiserver'], [
      ...apiServerArgs(layout),
      ...(opts.apiServerArgs ?? []),
    ]);

    const { ca, admin } = layout.pki;
    const server = layout.server;
    const [caPem, adminCert, adminKey] = await Promise.all([
      readFile(ca.cert, 'utf8'),
      readFile(admin.cert, 'utf8'),
      readFile(admin.key, 'utf8'),
    ]);
    const tls: ProbeTls = { ca: caPem, cert: adminCert, key: adminKey };
    const wait = (what: string, p: ServerProcess, check: () => Promise<boolean | string>) =>
      waitFor(what, procs, p, timeout, check);
    const healthy = (url: string) => async () => {
      const r = await probe(url, tls);
      return r.status === 200 || `${r.status} ${r.body.slice(0, 300)}`;
    };

    await wait('etcd /health', etcd, async () => {
      try {
        const res = await fetch(`${etcdUrl(layout)}/health`, { signal: AbortSignal.timeout(3000) });
        const body = await res.text();
        return (res.ok && body.includes('"true"')) || `${res.status} ${body}`;
      } catch (err) {
        return (err as Error).message;
      }
    });
    await wait('kube-apiserver /readyz', apiserver, healthy(`${server}/readyz`));
    log(`control plane: kube-apiserver ready ${Date.now() - tStart} ms after start`);
    const cm = withCm
      ? start('kube-controller-manager', bin['kube-controller-manager'], [
          ...controllerManagerArgs(layout),
          ...(opts.controllerManagerArgs ?? []),
        ])
      : null;
    const scheduler = withScheduler
      ? start('kube-scheduler', bin['kube-scheduler'], [...schedulerArgs(layout), ...(opts.schedulerArgs ?? [])])
      : null;
    await Promise.all([
      cm &&
        wait(
          'kube-controller-manager /healthz',
          cm,
          healthy(`https://127.0.0.1:${layout.ports.controllerManager}/healthz`),
        ),
      scheduler &&
        wait('kube-scheduler /readyz', scheduler, healthy(`https://127.0.0.1:${layout.ports.scheduler}/readyz`)),
      wait('namespace default', apiserver, healthy(`${server}/api/v1/namespaces/default`)),
    ]);
    if (cm) {
      await wait(
        'ServiceAccount default/default (created by kube-controller-manager)',
        cm,
        healthy(`${server}/api/v1/namespaces/default/serviceaccounts/default`),
      );
    }
    const startMs = Date.now() - tStart;
    log(`control plane: ready in ${startMs} ms at ${server}`);

    const info: ControlPlaneInfo = {
      server,
      kubeconfigPath: layout.kubeconfigs.admin,
      caPem,
      caCertPath: ca.cert,
      caKeyPath: ca.key,
      adminCertPath: admin.cert,
      adminKeyPath: admin.key,
      dir,
      kubectlPath,
      pids: Object.fromEntries(procs.map((p) => [p.name, p.pid])),
      startMs,
    };
    return { ...info, info, makeUserKubeconfig: (user, groups) => makeUserKubeconfig(info, user, groups), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Writes a kubeconfig for a new client certificate of `user` in `groups`, signed by the control plane's CA, and
 * returns its path (inside the control plane's private dir). Works from the plain `ControlPlaneInfo` too, e.g. in
 * a vitest worker that got it through `inject`.
 *
 * @example
 * ```ts
 * const path = await makeUserKubeconfig(inject('controlPlane'), 'alice', []);
 * ```
 */
export async function makeUserKubeconfig(
  info: Pick<ControlPlaneInfo, 'dir' | 'server' | 'caCertPath' | 'caKeyPath'>,
  user: string,
  groups: readonly string[] = [],
): Promise<string> {
  const name = `${user.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60)}-${randomBytes(4).toString('hex')}`;
  const usersDir = join(info.dir, 'users');
  await mkdir(usersDir, { recursive: true });
  const ca: CertPair = { cert: info.caCertPath, key: info.caKeyPath };
  const client = await createClientCert(usersDir, ca, name, { user, groups });
  const path = join(usersDir, `${name}.kubeconfig`);
  await writeKubeconfig(path, info.server, ca, client, user);
  return path;
}

/**
 * `waitUntil` for one component; the error names what was awaited and carries the tail of the log of the
 * awaited component and of every component that has exited.
 */
async function waitFor(
  what: string,
  all: readonly ServerProcess[],
  target: ServerProcess,
  timeoutMs: number,
  check: () => Promise<boolean | string>,
): Promise<void> {
  const dead = () => {
    const gone = all.find((p) => p.exitStatus() !== null);
    return gone ? `${gone.name} (pid ${gone.pid}) exited with ${gone.exitStatus()}` : null;
  };
  try {
    await waitUntil(what, timeoutMs, check, dead);
  } catch (err) {
    if (!(err instanceof NotReadyError)) throw err;
    const shown = [target, ...all.filter((p) => p !== target && p.exitStatus() !== null)];
    const tails = await Promise.all(
      shown.map(async (p) => `--- last lines of ${p.name}'s log\n${(await tailLog(p.logPath)) || '(empty)'}`),
    );
    throw new NotReadyError(`Control plane did not start: ${err.message}\n${tails.join('\n')}`);
  }
}
