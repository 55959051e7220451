/**
 * The real operator as a host process, for the kill-point tests on the real local cluster (spawned with tsx): the
 * same wiring as actors/controller/main.ts (the API server, the kubelet through its node proxy, RabbitMQ with its
 * management API, the node agents by their nodes' InternalIP, the JetStream event log), reaching the cluster
 * through the host's veth onto its bridge. With MS2M_KILL_AFTER_SEQ=N it SIGKILLs itself right after the append
 * of seq N is durable (before the chart has seen the event): a crash at an event boundary. The next process,
 * started without it, resumes the migration from the log.
 *
 * Environment: KUBECONFIG, MS2M_NAMESPACE (the one namespace it watches), MS2M_NATS_URL,
 * MS2M_RABBITMQ_MANAGEMENT_URL, MS2M_RABBITMQ_STATS_INTERVAL_MS (default 500), MS2M_AGENT_PORT (default 7443),
 * MS2M_KILL_AFTER_SEQ (optional), MS2M_KILL_AFTER_EVENT (optional, `Type#n`: after the n-th append of
 * that type to a stream, which this process must have started), MS2M_KILL_STREAM (optional: only an append to a stream whose id contains it
 * counts), MS2M_LEASE_HOLDER (optional: run with the Lease ms2m-system/ms2m-operator), MS2M_CHILD_LOG (pino
 * level, default warn; the log goes to stderr).
 */
import { CoreV1Api } from '@kubernetes/client-node';
import pino from 'pino';
import { createOperator } from '../../actors/controller/operator.ts';
import { realVolumeResizeController } from '../../actors/controller/volume-resize-wiring.ts';
import { statefulMigrationResource as R } from '../../actors/crd/stateful-migration.ts';
import { createAgentClient } from '../../adapters/agent-client/agent-client.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { openEventLog } from '../../adapters/event-log/open.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { kubeletFromKubeconfig } from '../../adapters/kubelet/kubeconfig.ts';
import { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import { loadKubeConfig } from '../../adapters/kubernetes/keep-alive-kubeconfig.ts';
import { KubeCluster } from '../../adapters/kubernetes/kubernetes.ts';
import { secretReader } from '../../adapters/kubernetes/secrets.ts';
import { kubernetesLease } from '../../adapters/lease/kubernetes-lease.ts';
import { createRabbitBroker } from '../../adapters/rabbitmq/rabbitmq.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`real-operator-child: ${name} is not set`);
  return v;
};

const logger = pino({ level: process.env.MS2M_CHILD_LOG ?? 'warn' }, pino.destination(2));
const kc = loadKubeConfig({ file: env('KUBECONFIG') });
const core = kc.makeApiClient(CoreV1Api);
const readSecret = secretReader(kc);
const token = await readSecret('ms2m-system', 'ms2m-agent-token', 'token');
if (!token) throw new Error('real-operator-child: Secret ms2m-system/ms2m-agent-token has no key token');
const agentPort = process.env.MS2M_AGENT_PORT ?? '7443';
const nodeAddress = async (node: string) => {
  const n = await core.readNode({ name: node });
  const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!ip) throw new Error(`Node ${node} has no InternalIP: the agent cannot be reached`);
  return `http://${ip}:${agentPort}`;
};

const killAt = process.env.MS2M_KILL_AFTER_SEQ ? Number(process.env.MS2M_KILL_AFTER_SEQ) : undefined;
const [killType, killOccurrence] = (process.env.MS2M_KILL_AFTER_EVENT ?? '').split('#');
const killStream = process.env.MS2M_KILL_STREAM;
/** Appends of each event type per stream by this process (it starts with the stream, so: occurrences in it). */
const appended = new Map<string, number>();
const killHere = (e: EventEnvelope): boolean => {
  if (killStream !== undefined && !e.id.includes(killStream)) return false;
  const n = (appended.get(`${e.id} ${e.type}`) ?? 0) + 1;
  appended.set(`${e.id} ${e.type}`, n);
  return e.seq === killAt || (e.type === killType && n === Number(killOccurrence));
};
const jetstream = await openEventLog({ kind: 'nats', servers: env('MS2M_NATS_URL') }, logger);
const log: EventLog = new Proxy(jetstream, {
  get(t, k) {
    if (k === 'append')
      return async (...args: Parameters<EventLog['append']>) => {
        const stored = await t.append(...args);
        if (killHere(stored)) {
          // the ack is in: the event is durable; nothing after it (chart, status, next effect) happens here
          process.stderr.write(`real-operator-child: SIGKILL after seq ${stored.seq} (${stored.type})\n`);
          process.kill(process.pid, 'SIGKILL');
        }
        return stored;
      };
    const v = Reflect.get(t, k, t);
    return typeof v === 'function' ? v.bind(t) : v;
  },
});

const holder = process.env.MS2M_LEASE_HOLDER;
const cluster = new KubeCluster({ kubeConfig: kc, logger });
const clock = systemClock();
const operator = createOperator({
  logger,
  migrations: new CustomResourceClient(
    kc,
    { group: R.group, version: R.version, plural: R.plural, kind: R.kind },
    env('MS2M_NAMESPACE'),
  ),
  effects: {
    cluster,
    kubelet: await kubeletFromKubeconfig({ kubeConfig: kc }),
    broker: createRabbitBroker({
      logger,
      managementUrl: env('MS2M_RABBITMQ_MANAGEMENT_URL'),
      statsIntervalMs: Number(process.env.MS2M_RABBITMQ_STATS_INTERVAL_MS ?? 500),
    }),
    agents: createAgentClient({ resolve: nodeAddress, token }),
    clock,
    pollMs: 250,
    sampleHeartbeatMs: 2000,
  },
  log,
  readSecret,
  // VolumeResizes too, as the operator process runs them (MS2M_MIGRATOR_IMAGE: the migrator pods' image)
  volumeResizes: realVolumeResizeController({
    kubeConfig: kc,
    namespace: env('MS2M_NAMESPACE'),
    cluster,
    clock,
    log,
    logger,
  }),
  lease: holder
    ? kubernetesLease({
        kubeConfig: kc,
        namespace: 'ms2m-system',
        name: 'ms2m-operator',
        holder,
        durationMs: 15_000,
        logger,
      })
    : undefined,
});
await operator.start();
process.stdout.write(`started ${process.pid}\n`);
process.once('SIGTERM', () => {
  void operator
    .stop()
    .then(() => log.close())
    .then(() => process.exit(0));
});
