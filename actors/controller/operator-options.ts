/**
 * The operator process's flags, each with an MS2M_* environment variable (the Deployment in crds/ sets them):
 * shared by actors/controller/main.ts and `ms2m operator`, and light (no Kubernetes client) so `ms2m help`
 * starts fast.
 */
import { type Command, Option } from 'commander';

export interface OperatorProcessOptions {
  kubeconfig?: string;
  namespace?: string;
  logDir?: string;
  nats?: string;
  leaseNamespace: string;
  leaderElect: boolean;
  httpPort: string;
  agentPort: string;
  agentScheme: string;
  agentToken?: string;
  rabbitmqManagementUrl?: string;
  rabbitmqStatsIntervalMs: string;
  logLevel: string;
  /** `--inspect [url]`: the Stately inspector's WebSocket (true: actors/inspect.ts `DEFAULT_INSPECT_URL`). */
  inspect?: string | boolean;
}

/**
 * Adds the operator's flags to `cmd`.
 *
 * @example
 * ```ts
 * const o = addOperatorOptions(new Command('ms2m-operator')).parse().opts<OperatorProcessOptions>();
 * ```
 */
export function addOperatorOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, then $KUBECONFIG)').env('KUBECONFIG'),
    )
    .addOption(new Option('--namespace <ns>', 'watch one namespace (default: all)').env('MS2M_WATCH_NAMESPACE'))
    .addOption(new Option('--log-dir <dir>', 'embedded event log directory').env('MS2M_LOG_DIR'))
    .addOption(new Option('--nats <url>', 'NATS JetStream event log (instead of --log-dir)').env('MS2M_NATS_URL'))
    .addOption(
      new Option('--lease-namespace <ns>', 'namespace of the leader Lease')
        .env('MS2M_LEASE_NAMESPACE')
        .default('ms2m-system'),
    )
    .addOption(new Option('--no-leader-elect', 'run without a leader Lease (one replica only)'))
    .addOption(new Option('--http-port <port>', '/metrics, /healthz, /readyz').env('MS2M_HTTP_PORT').default('8080'))
    .addOption(new Option('--agent-port <port>', 'node agent port on each node').env('MS2M_AGENT_PORT').default('7443'))
    .addOption(new Option('--agent-scheme <scheme>', 'http or https').env('MS2M_AGENT_SCHEME').default('http'))
    .addOption(new Option('--agent-token <token>', 'bearer token of the node agents').env('MS2M_AGENT_TOKEN'))
    .addOption(
      new Option('--rabbitmq-management-url <url>', 'RabbitMQ management API').env('MS2M_RABBITMQ_MANAGEMENT_URL'),
    )
    .addOption(
      new Option(
        '--rabbitmq-stats-interval-ms <ms>',
        "the broker's collect_statistics_interval: how late its management statistics (replay depth) may be",
      )
        .env('MS2M_RABBITMQ_STATS_INTERVAL_MS')
        .default('5000'),
    )
    .addOption(new Option('--log-level <level>', 'pino level').env('MS2M_LOG_LEVEL').default('info'))
    .addOption(
      new Option(
        '--inspect [url]',
        'send the live migration actors to the Stately inspector over this WebSocket (default ws://127.0.0.1:8080; docs/ui.md)',
      ).env('MS2M_INSPECT'),
    );
}

/** What is wrong with `o` (for a usage error), or undefined. */
export function operatorOptionsProblem(o: OperatorProcessOptions): string | undefined {
  if (!o.logDir && !o.nats) return 'set --log-dir DIR or --nats URL for the event log';
  if (!o.agentToken) return 'set --agent-token (or MS2M_AGENT_TOKEN) for the node agents';
  if (typeof o.inspect === 'string' && !/^wss?:\/\//.test(o.inspect))
    return `--inspect ${o.inspect}: give the inspector's WebSocket URL, e.g. ws://127.0.0.1:8080`;
  return undefined;
}
