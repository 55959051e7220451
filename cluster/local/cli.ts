/**
 * `ms2m cluster up|down|status`: the local cluster from the command line.
 *
 *   ms2m cluster up [--no-operator] [--json]   start (or complete) the cluster; idempotent; prints progress
 *   ms2m cluster down                          stop and remove everything `up` made
 *   ms2m cluster status [--json]               what runs (read-only)
 */
import { Command } from 'commander';
import { clusterDown, clusterStatus, clusterUp } from './cluster.ts';
import { buildClusterImages } from './images.ts';

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** Runs `ms2m cluster <args>`; returns the exit code, never throws. */
export async function runClusterCli(args: readonly string[], io: CliIo): Promise<number> {
  const out = (s: string) => io.stdout.write(`${s}\n`);
  const err = (s: string) => io.stderr.write(`${s}\n`);
  const program = new Command('ms2m cluster')
    .description('The local Kubernetes cluster: two real kubelets on containerd + runc + CRIU (ARCHITECTURE.md §6)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  program
    .command('up')
    .description('start (or complete) the cluster, build and push the images, install the CRD, agents and operator')
    .option('--no-operator', 'do not install the operator Deployment')
    .option('--json', 'print the cluster info as JSON at the end')
    .action(async (o: { operator: boolean; json?: boolean }) => {
      const info = await clusterUp({
        buildImages: buildClusterImages,
        operator: o.operator,
        log: (l) => err(`ms2m cluster: ${l}`),
      });
      if (o.json) out(JSON.stringify(info, null, 2));
      else out(`export KUBECONFIG=${info.kubeconfig}`);
    });
  program
    .command('down')
    .description('stop and remove everything `up` made (processes, containers, mounts, namespaces, veths)')
    .action(async () => {
      const left = await clusterDown({ log: (l) => err(`ms2m cluster: ${l}`) });
      if (left.length) throw new Error(`could not remove: ${left.join('; ')}`);
    });
  program
    .command('status')
    .description('what is running (read-only)')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      const s = await clusterStatus();
      if (o.json) {
        out(JSON.stringify(s, null, 2));
        return;
      }
      out(`cluster dir: ${s.dir}`);
      out(
        `network:     ${Object.entries(s.network.namespaces)
          .map(([k, v]) => `${k} ${v ? 'up' : 'absent'}`)
          .join(', ')}`,
      );
      out(`api server:  ${s.apiserver}${s.kubeconfig ? ` (KUBECONFIG=${s.kubeconfig})` : ''}`);
      out(
        `nodes:       ${
          Object.entries(s.nodes)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || '(none)'
        }`,
      );
      for (const [name, pid] of Object.entries(s.processes))
        out(`  ${name.padEnd(26)} ${pid === null ? 'stopped' : `pid ${pid}`}`);
    });
  try {
    await program.parseAsync([...args], { from: 'user' });
    return 0;
  } catch (e) {
    const code = (e as { code?: string; exitCode?: number }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      return code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : 2;
    }
    err(`ms2m cluster: ${(e as Error).message}`);
    return 1;
  }
}
