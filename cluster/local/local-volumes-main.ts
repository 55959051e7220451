/**
 * The local cluster's volume provisioner as a daemon (local-volumes.ts), started by `ms2m cluster up`:
 *
 *   node --import tsx cluster/local/local-volumes-main.ts --dir <cluster dir> --kubeconfig <admin kubeconfig>
 *
 * Logs one line per volume made or deleted; SIGTERM stops it.
 */
import { Command } from 'commander';
import { loadKubeConfig } from '../../adapters/kubernetes/keep-alive-kubeconfig.ts';
import { LocalVolumeProvisioner } from './local-volumes.ts';

const o = new Command('ms2m-local-volumes')
  .requiredOption('--dir <dir>', 'the cluster dir')
  .requiredOption('--kubeconfig <file>', 'kubeconfig with rights on PVs, PVCs and Events')
  .parse(process.argv)
  .opts<{ dir: string; kubeconfig: string }>();

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
const p = new LocalVolumeProvisioner({ kubeConfig: loadKubeConfig({ file: o.kubeconfig }), clusterDir: o.dir, log });
p.start();
log(`serving StorageClass ms2m-local for ${o.dir}`);
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.once(sig, () => {
    void p.stop().then(() => process.exit(0));
  });
