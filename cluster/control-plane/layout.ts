/**
 * The private dir of one control plane, prepared before any process starts: free ports, the certificates of
 * every component (see pki.ts) and the kubeconfigs of the admin, the controller manager and the scheduler.
 *
 *   <dir>/pki/           ca, serving and client certificates, service-account keys
 *   <dir>/logs/          <component>.log
 *   <dir>/etcd/          etcd's data
 *   <dir>/users/         kubeconfigs made by makeUserKubeconfig
 *   <dir>/*.kubeconfig   admin, kube-controller-manager, kube-scheduler
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CertPair,
  createCa,
  createClientCert,
  createServiceAccountKeys,
  createServingCert,
  writeKubeconfig,
} from './pki.ts';
import { freePorts } from './ports.ts';

export const SERVICE_CIDR = '10.0.0.0/24';
/** First address of SERVICE_CIDR: the `kubernetes` Service. */
const KUBERNETES_SERVICE_IP = '10.0.0.1';
export const ADMIN_USER = 'ms2m-admin';

export interface Layout {
  readonly dir: string;
  readonly address: string;
  /** `https://<address>:<apiserver port>` */
  readonly server: string;
  readonly ports: {
    etcdClient: number;
    etcdPeer: number;
    apiserver: number;
    controllerManager: number;
    scheduler: number;
  };
  readonly pki: {
    readonly dir: string;
    readonly ca: CertPair;
    readonly apiServing: CertPair;
    readonly controllerManagerServing: CertPair;
    readonly schedulerServing: CertPair;
    readonly admin: CertPair;
    readonly controllerManager: CertPair;
    readonly scheduler: CertPair;
    readonly kubeletClient: CertPair;
    readonly serviceAccount: { key: string; pub: string };
  };
  readonly kubeconfigs: { admin: string; controllerManager: string; scheduler: string };
  readonly logDir: string;
  readonly etcdDataDir: string;
  readonly usersDir: string;
}

/**
 * Fills `dir` (which exists and is empty) for a control plane reached at `address`.
 *
 * @example
 * ```ts
 * const layout = await prepareLayout(await mkdtemp(join(tmpdir(), 'cp-')), '127.0.0.1');
 * ```
 */
export async function prepareLayout(
  dir: string,
  address: string,
  extraSans: readonly string[] = [],
  fixedPorts?: Layout['ports'],
): Promise<Layout> {
  const pkiDir = join(dir, 'pki');
  const logDir = join(dir, 'logs');
  const usersDir = join(dir, 'users');
  await Promise.all([mkdir(pkiDir), mkdir(logDir), mkdir(usersDir)]);
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler] = (
    fixedPorts
      ? [
          fixedPorts.etcdClient,
          fixedPorts.etcdPeer,
          fixedPorts.apiserver,
          fixedPorts.controllerManager,
          fixedPorts.scheduler,
        ]
      : await freePorts(5)
  ) as [number, number, number, number, number];
  const server = `https://${address}:${apiserver}`;

  const ca = await createCa(pkiDir);
  const loopbackSans = ['IP:127.0.0.1', 'DNS:localhost'];
  const apiSans = [
    ...loopbackSans,
    ...(address === '127.0.0.1' ? [] : [`IP:${address}`]),
    `IP:${KUBERNETES_SERVICE_IP}`,
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
    ...extraSans,
  ];
  const [apiServing, cmServing, schedServing, admin, cmClient, schedClient, kubeletClient, serviceAccount] =
    await Promise.all([
      createServingCert(pkiDir, ca, 'kube-apiserver', 'kube-apiserver', apiSans),
      createServingCert(pkiDir, ca, 'kube-controller-manager-serving', 'kube-controller-manager', loopbackSans),
      createServingCert(pkiDir, ca, 'kube-scheduler-serving', 'kube-scheduler', loopbackSans),
      createClientCert(pkiDir, ca, 'admin', { user: ADMIN_USER, groups: ['system:masters'] }),
      createClientCert(pkiDir, ca, 'kube-controller-manager', { user: 'system:kube-controller-manager' }),
      createClientCert(pkiDir, ca, 'kube-scheduler', { user: 'system:kube-scheduler' }),
      // the API server's identity towards kubelets (logs, exec, node proxy)
      createClientCert(pkiDir, ca, 'kube-apiserver-kubelet-client', {
        user: 'kube-apiserver-kubelet-client',
        groups: ['system:masters'],
      }),
      createServiceAccountKeys(pkiDir),
    ]);
  const kubeconfigs = {
    admin: join(dir, 'admin.kubeconfig'),
    controllerManager: join(dir, 'kube-controller-manager.kubeconfig'),
    scheduler: join(dir, 'kube-scheduler.kubeconfig'),
  };
  await Promise.all([
    writeKubeconfig(kubeconfigs.admin, server, ca, admin, ADMIN_USER),
    writeKubeconfig(kubeconfigs.controllerManager, server, ca, cmClient, 'system:kube-controller-manager'),
    writeKubeconfig(kubeconfigs.scheduler, server, ca, schedClient, 'system:kube-scheduler'),
  ]);
  return {
    dir,
    address,
    server,
    ports: { etcdClient, etcdPeer, apiserver, controllerManager, scheduler },
    pki: {
      dir: pkiDir,
      ca,
      apiServing,
      controllerManagerServing: cmServing,
      schedulerServing: schedServing,
      admin,
      controllerManager: cmClient,
      scheduler: schedClient,
      kubeletClient,
      serviceAccount,
    },
    kubeconfigs,
    logDir,
    etcdDataDir: join(dir, 'etcd'),
    usersDir,
  };
}
