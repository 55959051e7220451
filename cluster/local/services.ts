/**
 * The shared services of the local cluster, in the cp namespace beside the control plane: RabbitMQ (with the
 * management plugin and its own epmd), nats-server with JetStream, and Debian's docker-registry. Private data
 * dirs under the cluster dir; reached at the bridge address (topology.ts ENDPOINTS) by the host and the pods.
 */
import { mkdir } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './control-plane.ts';
import { runningDaemon, startDaemon, stopDaemon } from './daemons.ts';
import { writeFileAtomic } from './files.ts';
import { CP, ENDPOINTS, PORTS, RABBIT_STATS_INTERVAL_MS } from './topology.ts';

export const SERVICE_DAEMONS = ['epmd', 'rabbitmq', 'nats', 'registry'] as const;

const RABBIT_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/** Resolves true once something accepts TCP connections at host:port. */
export function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

const portOpen = (what: string, port: number) => async () =>
  (await tcpOpen(CP.address, port)) || `nothing accepts connections on ${CP.address}:${port} (${what})`;

export async function startServices(dir: string, log: (line: string) => void): Promise<void> {
  const base = join(dir, 'services');
  const started = (name: string, r: { pid: number; started: boolean }) => {
    if (r.started) log(`started ${name} (pid ${r.pid})`);
  };

  // nats-server: JetStream, store in the cluster dir
  const natsDir = join(base, 'nats');
  await mkdir(natsDir, { recursive: true });
  started(
    'nats-server',
    await startDaemon(dir, {
      name: 'nats',
      bin: 'nats-server',
      args: ['-js', '-a', '0.0.0.0', '-p', String(PORTS.nats), '-sd', natsDir, '-n', 'ms2m-local'],
      netns: CP.netns,
    }),
  );

  // the image registry (containerd pulls from it over plain http)
  const regDir = join(base, 'registry');
  await writeFileAtomic(
    join(regDir, 'config.yml'),
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(regDir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 0.0.0.0:${PORTS.registry}`,
      '',
    ].join('\n'),
  );
  started(
    'docker-registry',
    await startDaemon(dir, {
      name: 'registry',
      bin: 'docker-registry',
      args: ['serve', join(regDir, 'config.yml')],
      netns: CP.netns,
    }),
  );

  // RabbitMQ with its own epmd (started first and tracked, so the node does not fork one we cannot stop)
  const rabbitDir = join(base, 'rabbitmq');
  for (const d of ['mnesia', 'log', 'home']) await mkdir(join(rabbitDir, d), { recursive: true });
  started(
    'epmd',
    await startDaemon(dir, {
      name: 'epmd',
      bin: 'epmd',
      args: ['-port', String(PORTS.epmd), '-address', '127.0.0.1'],
      netns: CP.netns,
    }),
  );
  await writeFileAtomic(
    join(rabbitDir, 'rabbitmq.conf'),
    [
      `listeners.tcp.1 = 0.0.0.0:${PORTS.amqp}`,
      'management.tcp.ip = 0.0.0.0',
      `management.tcp.port = ${PORTS.rabbitManagement}`,
      // replay-queue depth is read from the management API: a short statistics interval keeps it fresh
      `collect_statistics_interval = ${RABBIT_STATS_INTERVAL_MS}`,
      'loopback_users = none',
      'log.console = false',
      'log.file.level = warning',
      '',
    ].join('\n'),
  );
  await writeFileAtomic(join(rabbitDir, 'enabled_plugins'), '[rabbitmq_management].\n');
  await writeFileAtomic(join(rabbitDir, 'rabbitmq-env.conf'), '');
  started(
    'rabbitmq',
    await startDaemon(dir, {
      name: 'rabbitmq',
      bin: RABBIT_SERVER,
      args: [],
      netns: CP.netns,
      env: {
        ...process.env,
        HOME: join(rabbitDir, 'home'),
        RABBITMQ_NODENAME: 'rabbit@localhost',
        RABBITMQ_NODE_PORT: String(PORTS.amqp),
        RABBITMQ_DIST_PORT: String(PORTS.rabbitDist),
        ERL_EPMD_PORT: String(PORTS.epmd),
        ERL_EPMD_ADDRESS: '127.0.0.1',
        RABBITMQ_MNESIA_BASE: join(rabbitDir, 'mnesia'),
        RABBITMQ_LOG_BASE: join(rabbitDir, 'log'),
        RABBITMQ_CONFIG_FILE: join(rabbitDir, 'rabbitmq.conf'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(rabbitDir, 'enabled_plugins'),
        RABBITMQ_CONF_ENV_FILE: join(rabbitDir, 'rabbitmq-env.conf'),
        RABBITMQ_PID_FILE: join(rabbitDir, 'rabbit.pid'),
      },
    }),
  );

  await waitFor('nats-server', 30_000, portOpen('nats-server', PORTS.nats));
  await waitFor('docker-registry /v2/', 30_000, async () => {
    const r = await fetch(`http://${ENDPOINTS.registry}/v2/`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200 || `docker-registry answered ${r.status}`;
  });
  await waitFor('RabbitMQ AMQP', 90_000, portOpen('RabbitMQ', PORTS.amqp));
  await waitFor('RabbitMQ management API', 60_000, async () => {
    const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
    const r = await fetch(`${ENDPOINTS.rabbitManagement}/api/overview`, {
      headers: { authorization: auth },
      signal: AbortSignal.timeout(3000),
    });
    return r.ok || `management API answered ${r.status}`;
  });
}

export async function stopServices(dir: string): Promise<void> {
  // RabbitMQ runs as a process group (the script, beam, its port helpers)
  await stopDaemon(dir, 'rabbitmq', { group: true, graceMs: 20_000 });
  await stopDaemon(dir, 'epmd');
  await stopDaemon(dir, 'nats');
  await stopDaemon(dir, 'registry');
}

export async function servicesStatus(dir: string): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const name of SERVICE_DAEMONS) out[name] = (await runningDaemon(dir, name))?.pid ?? null;
  return out;
}
