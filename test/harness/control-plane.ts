/**
 * Test harness: a real control plane (etcd + kube-apiserver + kube-controller-manager + kube-scheduler) on
 * loopback, from `cluster/control-plane/`. The `controlplane` tier starts one per run in its global setup
 * (test/controlplane/global-setup.ts); a suite that needs its own calls `startControlPlane()` directly.
 *
 * @example
 * ```ts
 * const cp = await startControlPlane();
 * const kc = new KubeConfig();
 * kc.loadFromFile(cp.kubeconfigPath);
 * const alice = await cp.makeUserKubeconfig('alice', []);
 * await cp.stop();
 * ```
 */
export {
  type ControlPlane,
  type ControlPlaneInfo,
  type ControlPlaneOptions,
  makeUserKubeconfig,
  startControlPlane,
} from '../../cluster/control-plane/control-plane.ts';
