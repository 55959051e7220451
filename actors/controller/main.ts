/**
 * The operator process: wires the real ports (API server, kubelet through the node proxy, RabbitMQ, node agents,
 * the event log, a coordination Lease) into `createOperator` and serves /metrics, /healthz and /readyz.
 *
 *   node actors/controller/main.ts --log-dir /var/lib/ms2m/log            (embedded file log)
 *   node actors/controller/main.ts --nats nats://nats.ms2m-system:4222      (JetStream)
 *
 * Every flag has an MS2M_* environment variable (the Deployment in crds/ sets them).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { CoreV1Api } from '@kubernetes/client-node';
import { Command, Option } from 'commander';
import pino from 'pino';
import { createAgentClient } from '../../adapters/agent-client/agent-client.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { openEventLog } from '../../adapters/event-log/open.ts';
import { kubeletFromKubeconfig } from '../../adapters/kubelet/kubeconfig.ts';
import { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import { loadKubeConfig } from '../../adapters/kubernetes/keep-alive-kubeconfig.ts';
import { KubeCluster } from '../../adapters/kubernetes/kubernetes.ts';
import { secretReader } from '../../adapters/kubernetes/secrets.ts';
import { kubernetesLease } from '../../adapters/lease/kubernetes-lease.ts';
import { createRabbitBroker } from '../../adapters/rabbitmq/rabbitmq.ts';
import { statefulMigrationResource } from '../crd/stateful-migration.ts';
import { createOperatorHttp } from './http.ts';
import { createOperatorMetrics } from './metrics.ts';
import { createOperator } from './operator.ts';

const program = new Command('ms2m-operator')
  .description('The ms2m operator: runs StatefulMigrations')
  .addOption(new Option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, then $KUBECONFIG)').env('KUBECONFIG'))
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
  .addOption(new Option('--log-level <level>', 'pino level').env('MS2M_LOG_LEVEL').default('info'));

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<{
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
  }>();
  if (!o.logDir && !o.nats) program.error('ms2m-operator: set --log-dir DIR or --nats URL for the event log');
  if (!o.agentToken) program.error('ms2m-operator: set --agent-token (or MS2M_AGENT_TOKEN) for the node agents');
  const logger = pino({ level: o.logLevel });
  const kc = loadKubeConfig({ file: o.kubeconfig });
  const core = kc.makeApiClient(CoreV1Api);
  const clock = systemClock();
  const cluster = new KubeCluster({ kubeConfig: kc, logger });
  const nodeAddress = async (node: string) => {
    const n = await core.readNode({ name: node });
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (!ip) throw new Error(`Node ${node} has no InternalIP: the agent cannot be reached`);
    return `${o.agentScheme}://${ip}:${o.agentPort}`;
  };
  const log = await openEventLog(
    o.nats ? { kind: 'nats', servers: o.nats } : { kind: 'file', dir: o.logDir as string },
    logger,
  );
  const metrics = createOperatorMetrics();
  const operator = createOperator({
    logger,
    migrations: new CustomResourceClient(
      kc,
      {
        group: statefulMigrationResource.group,
        version: statefulMigrationResource.version,
        plural: statefulMigrationResource.plural,
        kind: statefulMigrationResource.kind,
      },
      o.namespace,
    ),
    effects: {
      cluster,
      kubelet: await kubeletFromKubeconfig({ kubeConfig: kc }),
      broker: createRabbitBroker({
        logger,
        managementUrl: o.rabbitmqManagementUrl,
        statsIntervalMs: Number(o.rabbitmqStatsIntervalMs),
      }),
      agents: createAgentClient({ resolve: nodeAddress, token: o.agentToken as string }),
      clock,
      pollMs: 250,
      sampleHeartbeatMs: 2000,
    },
    log,
    readSecret: secretReader(kc),
    lease: o.leaderElect
      ? kubernetesLease({
          kubeConfig: kc,
          namespace: o.leaseNamespace,
          name: 'ms2m-operator',
          holder: `${process.env.POD_NAME ?? hostname()}_${randomUUID().slice(0, 8)}`,
          durationMs: 15_000,
          logger,
        })
      : undefined,
    metrics,
  });
  const server = createOperatorHttp({
    registry: metrics.registry,
    ready: () => operator.ready,
    leading: () => operator.leading,
  });
  server.listen(Number(o.httpPort));
  await operator.start();
  logger.info({ httpPort: o.httpPort, namespace: o.namespace ?? '(all)' }, 'Operator started');
  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'Operator stopping');
    await operator.stop();
    await log.close();
    server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`ms2m-operator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
