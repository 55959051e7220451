/**
 * `ms2m cluster up|down|status`: the local cluster (two real kubelets on containerd + runc + CRIU, ARCHITECTURE.md
 * §6). Progress lines go to stderr; `up` prints the KUBECONFIG export (or the cluster info with --json) on stdout.
 */
import type { Command } from 'commander';
import type { CliIo, CommandModule } from '../command-context.ts';

export const clusterCommand: CommandModule = {
  name: 'cluster',
  register(program: Command, io: CliIo) {
    const out = (s: string) => io.stdout.write(`${s}\n`);
    const err = (s: string) => io.stderr.write(`ms2m cluster: ${s}\n`);
    const cluster = program
      .command('cluster')
      .description('the local Kubernetes cluster: two real kubelets on containerd + runc + CRIU')
      .addHelpText(
        'after',
        `
Examples:
  $ ms2m cluster up && export KUBECONFIG=/var/lib/ms2m/cluster/control-plane/admin.kubeconfig
  $ ms2m cluster status --json
  $ ms2m cluster down`,
      );
    cluster
      .command('up')
      .description('start (or complete) the cluster, build and push the images, install the CRD, agents and operator')
      .option('--no-operator', 'do not install the operator Deployment')
      .option('--json', 'print the cluster info as JSON at the end')
      .action(async (o: { operator: boolean; json?: boolean }) => {
        const { clusterUp } = await import('../../cluster/local/cluster.ts');
        const { buildClusterImages } = await import('../../cluster/local/images.ts');
        const info = await clusterUp({ buildImages: buildClusterImages, operator: o.operator, log: err });
        if (o.json) out(JSON.stringify(info, null, 2));
        else out(`export KUBECONFIG=${info.kubeconfig}`);
      });
    cluster
      .command('down')
      .description('stop and remove everything `up` made (processes, containers, mounts, namespaces, veths)')
      .action(async () => {
        const { clusterDown } = await import('../../cluster/local/cluster.ts');
        const left = await clusterDown({ log: err });
        if (left.length) throw new Error(`could not remove: ${left.join('; ')}`);
      });
    cluster
      .command('status')
      .description('what is running (read-only)')
      .option('--json', 'JSON output')
      .action(async (o: { json?: boolean }) => {
        const { clusterStatus } = await import('../../cluster/local/cluster.ts');
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
  },
};
