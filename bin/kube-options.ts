/**
 * `--kubeconfig`, `--context` and `-n` of the commands that talk to the API server (light: the Kubernetes client
 * is loaded by bin/kube.ts only when a command runs).
 */
import { type Command, Option } from 'commander';
import { text } from './cli-options.ts';

export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/**
 * Adds `--kubeconfig`, `--context` and `-n, --namespace` to `cmd`.
 *
 * @example
 * ```ts
 * addKubeOptions(program.command('status'));
 * ```
 */
export function addKubeOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)').argParser(
        text('--kubeconfig'),
      ),
    )
    .option('--context <name>', 'kubeconfig context (default: its current context)', text('--context'))
    .option('-n, --namespace <ns>', "namespace (default: the context's namespace, else default)", text('-n'));
}
