/**
 * Command lines of the control plane's components, from a prepared Layout.
 */
import { type Layout, SERVICE_CIDR } from './layout.ts';

export const etcdUrl = (l: Layout): string => `http://127.0.0.1:${l.ports.etcdClient}`;

/** etcd on loopback, plain http, one member. */
export function etcdArgs(l: Layout): string[] {
  const client = etcdUrl(l);
  const peer = `http://127.0.0.1:${l.ports.etcdPeer}`;
  return [
    '--name=ms2m',
    `--data-dir=${l.etcdDataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=ms2m=${peer}`,
    '--initial-cluster-state=new',
    // a throwaway store: durability buys nothing here and fsync is the slowest part of etcd
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

/** kube-apiserver: client-certificate authentication, Node+RBAC authorization, service-account tokens. */
export function apiServerArgs(l: Layout): string[] {
  const { pki } = l;
  return [
    `--etcd-servers=${etcdUrl(l)}`,
    `--bind-address=${l.address}`,
    `--advertise-address=${l.address}`,
    `--secure-port=${l.ports.apiserver}`,
    `--cert-dir=${pki.dir}`,
    `--tls-cert-file=${pki.apiServing.cert}`,
    `--tls-private-key-file=${pki.apiServing.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    '--authorization-mode=Node,RBAC',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccount.pub}`,
    `--service-account-signing-key-file=${pki.serviceAccount.key}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    `--kubelet-client-certificate=${pki.kubeletClient.cert}`,
    `--kubelet-client-key=${pki.kubeletClient.key}`,
    '--kubelet-preferred-address-types=InternalIP',
    '--allow-privileged=true',
    '--profiling=false',
    // the `kubernetes` Service's endpoints may not be a loopback address
    ...(isLoopback(l.address) ? ['--endpoint-reconciler-type=none'] : []),
  ];
}

/** kube-controller-manager: every default controller, one service account per controller, no leader election. */
export function controllerManagerArgs(l: Layout): string[] {
  const { pki } = l;
  return [
    `--kubeconfig=${l.kubeconfigs.controllerManager}`,
    `--authentication-kubeconfig=${l.kubeconfigs.controllerManager}`,
    `--authorization-kubeconfig=${l.kubeconfigs.controllerManager}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${l.ports.controllerManager}`,
    `--tls-cert-file=${pki.controllerManagerServing.cert}`,
    `--tls-private-key-file=${pki.controllerManagerServing.key}`,
    '--controllers=*',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.serviceAccount.key}`,
    `--root-ca-file=${pki.ca.cert}`,
    `--cluster-signing-cert-file=${pki.ca.cert}`,
    `--cluster-signing-key-file=${pki.ca.key}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
}

/** kube-scheduler, no leader election. */
export function schedulerArgs(l: Layout): string[] {
  const { pki } = l;
  return [
    `--kubeconfig=${l.kubeconfigs.scheduler}`,
    `--authentication-kubeconfig=${l.kubeconfigs.scheduler}`,
    `--authorization-kubeconfig=${l.kubeconfigs.scheduler}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${l.ports.scheduler}`,
    `--tls-cert-file=${pki.schedulerServing.cert}`,
    `--tls-private-key-file=${pki.schedulerServing.key}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === 'localhost';
}
