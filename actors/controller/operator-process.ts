/**
 * The operator process, built apart from how it is started: `addOperatorOptions` (operator-options.ts) declares
 * its flags (each with an MS2M_* environment variable, which the Deployment in crds/ sets), `startOperatorProcess` wires the real
 * ports (API server, kubelet through the node proxy, RabbitMQ, node agents, the event log, a coordination Lease)
 * into `createOperator` and serves /metrics, /healthz and /readyz. Used by actors/controller/main.ts (the image's
 * entry point) and `ms2m operator`.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { CoreV1Api } from '@kubernetes/client-node';
import pino, { type Logger } from 'pino';
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
import { DEFAULT_INSPECT_URL, startInspection } from '../inspect.ts';
import { createOperatorHttp } from './http.ts';
import { createOperatorMetrics } from './metrics.ts';
import { createOperator } from './operator.ts';
import { type OperatorProcessOptions, operatorOptionsProblem } from './operator-options.ts';
import { realVolumeResizeController } from './volume-resize-wiring.ts';

export { addOperatorOptions, type OperatorProcessOptions, operatorOptionsProblem } from './operator-options.ts';

export interface OperatorProcess {
  /** The port /metrics, /healthz and /readyz are served on (the one asked for, or the one picked for 0). */
  httpPort: number;
  /** Stops the operator, closes the log and the HTTP server. */
  stop(): Promise<void>;
}

/**
 * Starts the operator with `o` (checked with {@link operatorOptionsProblem} first).
 *
 * @example
 * ```ts
 * const op = await startOperatorProcess({ ...o, logDir: '/var/lib/ms2m/log' });
 * process.once('SIGTERM', () => void op.stop());
 * ```
 */
export async function startOperatorProcess(
  o: OperatorProcessOptions,
  logger: Logger = pino({ level: o.logLevel }),
): Promise<OperatorProcess> {
  const problem = operatorOptionsProblem(o);
  if (problem) throw new Error(problem);
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
  const inspection = o.inspect
    ? startInspection(o.inspect === true ? DEFAULT_INSPECT_URL : o.inspect, logger)
    : undefined;
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
    ...(inspection ? { inspect: inspection.inspect } : {}),
    // VolumeResizes (storage.ms2m.io) under the same lease; MS2M_MIGRATOR_IMAGE names the migrator pods' image
    volumeResizes: realVolumeResizeController({
      kubeConfig: kc,
      namespace: o.namespace,
      cluster,
      clock,
      log,
      logger,
      registry: metrics.registry,
    }),
  });
  const server = createOperatorHttp({
    registry: metrics.registry,
    ready: () => operator.ready,
    leading: () => operator.leading,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(o.httpPort), () => resolve());
  });
  const httpPort = (server.address() as AddressInfo).port;
  try {
    await operator.start();
  } catch (err) {
    server.close();
    await log.close();
    throw err;
  }
  logger.info({ httpPort, namespace: o.namespace ?? '(all)' }, 'Operator started');
  return {
    httpPort,
    async stop() {
      await operator.stop();
      await log.close();
      inspection?.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
