/**
 * Test harness: a private RabbitMQ node with the management plugin on 127.0.0.1. Random free ports (AMQP,
 * management, Erlang distribution, its own epmd), private mnesia/log/config dirs and Erlang cookie (HOME), so it
 * never meets the system service. Startup takes 5-10 s: start it once per test file.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, freePort, waitForPort } from './nats.ts';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export interface RabbitServer {
  /** `amqp://guest:guest@127.0.0.1:<port>` */
  readonly url: string;
  readonly amqpPort: number;
  /** `http://127.0.0.1:<port>` */
  readonly managementUrl: string;
  /** Management statistics interval the node was started with (ms). */
  readonly statsIntervalMs: number;
  /** Stops the node (keeping its data) and starts it again on the same ports: durable queues survive. */
  restart(): Promise<void>;
  /** Stops the node and its epmd, removes the private dirs. */
  stop(): Promise<void>;
}

/**
 * Starts a private RabbitMQ node and waits until AMQP and the management API answer.
 *
 * @example
 * ```ts
 * const rabbit = await startRabbit();
 * const broker = createRabbitBroker({ logger, managementUrl: rabbit.managementUrl });
 * await rabbit.stop();
 * ```
 */
export async function startRabbit(opts: { statsIntervalMs?: number } = {}): Promise<RabbitServer> {
  const statsIntervalMs = opts.statsIntervalMs ?? 1000;
  const base = await mkdtemp(join(tmpdir(), 'ms2m-rabbit-'));
  const [amqpPort, mgmtPort, distPort, epmdPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const nodename = `ms2m${randomBytes(4).toString('hex')}@localhost`;
  for (const d of ['mnesia', 'log', 'home']) await mkdir(join(base, d), { recursive: true });
  const conf = join(base, 'rabbitmq.conf');
  await writeFile(
    conf,
    [
      `listeners.tcp.1 = 127.0.0.1:${amqpPort}`,
      `management.tcp.ip = 127.0.0.1`,
      `management.tcp.port = ${mgmtPort}`,
      `collect_statistics_interval = ${statsIntervalMs}`,
      'loopback_users = none',
      'log.console = false',
      'log.file.level = warning',
      '',
    ].join('\n'),
  );
  await writeFile(join(base, 'enabled_plugins'), '[rabbitmq_management].\n');
  await writeFile(join(base, 'rabbitmq-env.conf'), '');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(base, 'home'),
    RABBITMQ_NODENAME: nodename,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_MNESIA_BASE: join(base, 'mnesia'),
    RABBITMQ_LOG_BASE: join(base, 'log'),
    RABBITMQ_CONFIG_FILE: conf,
    RABBITMQ_ENABLED_PLUGINS_FILE: join(base, 'enabled_plugins'),
    RABBITMQ_CONF_ENV_FILE: join(base, 'rabbitmq-env.conf'),
    RABBITMQ_PID_FILE: join(base, 'rabbit.pid'),
  };
  let child: ChildProcess | undefined;
  let output = '';
  const start = async (): Promise<void> => {
    const proc = spawn(SERVER, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    child = proc;
    const dead = () => proc.exitCode !== null || proc.signalCode !== null;
    try {
      await waitForPort(amqpPort, 60_000, dead);
      await waitForPort(mgmtPort, 60_000, dead);
      await waitForManagement(`http://127.0.0.1:${mgmtPort}`, 60_000);
    } catch (err) {
      await stopNode();
      throw new Error(`RabbitMQ did not start: ${(err as Error).message}\n${output}`);
    }
  };
  /** SIGTERM to the node's process group (beam and its helpers), SIGKILL after 15 s. */
  const stopNode = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c?.pid) return;
    const group = -c.pid;
    try {
      process.kill(group, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(group, 'SIGKILL');
      } catch {}
    }, 15_000);
    await exited(c);
    clearTimeout(timer);
    try {
      process.kill(group, 'SIGKILL');
    } catch {}
  };
  await start();
  return {
    url: `amqp://guest:guest@127.0.0.1:${amqpPort}`,
    amqpPort,
    managementUrl: `http://127.0.0.1:${mgmtPort}`,
    statsIntervalMs,
    async restart() {
      await stopNode();
      await start();
    },
    async stop() {
      await stopNode();
      // epmd was started by our node on its private port; `epmd -kill` on that port stops only that one
      spawnSync('epmd', ['-port', String(epmdPort), '-kill'], { env, stdio: 'ignore' });
      await rm(base, { recursive: true, force: true });
    },
  };
}

async function waitForManagement(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
  for (;;) {
    try {
      const res = await fetch(`${url}/api/overview`, { headers: { authorization: auth } });
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`management API at ${url} did not answer`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
