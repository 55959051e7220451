/**
 * Starts a local control plane in the foreground for a developer and prints how to reach it; Ctrl-C (or
 * SIGTERM) stops every process and removes its dir.
 *
 *   npx tsx cluster/start-control-plane.ts [--keep]
 *   KUBECONFIG=<printed path> kubectl get ns
 */
import { startControlPlane } from './control-plane/control-plane.ts';

const keepDir = process.argv.includes('--keep');
const cp = await startControlPlane({ keepDir, log: (line) => console.error(line) });
console.log(cp.kubeconfigPath);
console.error(
  [
    `API server  ${cp.server}`,
    `kubeconfig  ${cp.kubeconfigPath}`,
    `logs        ${cp.dir}/logs/`,
    `pids        ${Object.entries(cp.pids)
      .map(([name, pid]) => `${name}=${pid}`)
      .join(' ')}`,
    ...(cp.kubectlPath ? [`try         KUBECONFIG=${cp.kubeconfigPath} ${cp.kubectlPath} get ns`] : []),
    'Ctrl-C stops it',
  ].join('\n'),
);

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.error(`${signal}: stopping the control plane`);
  cp.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGHUP', () => shutdown('SIGHUP'));
