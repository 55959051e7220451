/**
 * The node agent process, built apart from how it is started: `startAgentProcess(env)` reads the MS2M_AGENT_*
 * settings below from `env`, wires the real dependencies and listens. Used by agent/main.ts (the image's entry
 * point) and `ms2m agent`. A bad setting is an {@link AgentConfigError}.
 *
 *   MS2M_AGENT_TOKEN or MS2M_AGENT_TOKEN_FILE   bearer token (required)
 *   MS2M_AGENT_STORE (/var/lib/ms2m-agent)      MS2M_AGENT_CHECKPOINTS (/var/lib/kubelet/checkpoints)
 *   MS2M_AGENT_HOST (0.0.0.0)  MS2M_AGENT_PORT (7443; 0 = random, the log line "Agent listening" names it)
 *   MS2M_AGENT_MAX_BODY_BYTES  MS2M_AGENT_MAX_CONCURRENT  MS2M_AGENT_BYTES_PER_SECOND
 *   MS2M_AGENT_BODY_IDLE_MS (30 s)  MS2M_AGENT_BODY_GRACE_MS (60 s)  MS2M_AGENT_MIN_BODY_BYTES_PER_SECOND (1 MiB/s)
 *   MS2M_AGENT_MAX_BODY_MS (6 h)  MS2M_AGENT_HEADERS_TIMEOUT_MS (20 s)  MS2M_AGENT_MAX_TAR_ENTRIES (200000)
 *   MS2M_AGENT_TLS_CERT / MS2M_AGENT_TLS_KEY (serve https)  MS2M_AGENT_PEER_CA (CA for peer agents)
 *   MS2M_AGENT_INSECURE_REGISTRY=1 (plain http registries)  MS2M_AGENT_REGISTRY_USER / _PASSWORD
 *   MS2M_AGENT_CONTAINERS_STORAGE=auto|on|off    MS2M_AGENT_GC_MAX_AGE_MS (default 6 h, 0 = off)
 *   MS2M_AGENT_CONTAINERD_SOCKET (set: load images into the node's containerd with ctr, e.g.
 *   /run/containerd/containerd.sock)  MS2M_AGENT_CTR (ctr)  MS2M_AGENT_CONTAINERD_NAMESPACE (k8s.io)
 *   MS2M_AGENT_CONTAINERD_SNAPSHOTTER (overlayfs: the snapshotter containerd's CRI runtime uses)
 */

import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Logger, pino } from 'pino';
import { ociRegistry } from '../adapters/oci/registry.ts';
import { createAgent } from './agent.ts';
import { ContainerdImages, type ContainerdOptions } from './containerd-images.ts';
import type { AgentLimits } from './context.ts';
import { createImageLoader, detectContainersStorage } from './loader.ts';
import { DEFAULT_TAR_LIMITS } from './tar-safety.ts';

/** A setting that can never work (missing token, a limit that is not a positive number, ...). */
export class AgentConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentConfigError';
  }
}

export interface AgentProcess {
  server: Server;
  address: AddressInfo;
  /** Stops accepting connections and resolves once the open ones are done. */
  stop(): Promise<void>;
}

/**
 * Starts the node agent configured by `env` (MS2M_AGENT_* variables).
 *
 * @example
 * ```ts
 * const agent = await startAgentProcess({ MS2M_AGENT_TOKEN: 't', MS2M_AGENT_PORT: '0' });
 * console.log(agent.address.port);
 * ```
 */
export async function startAgentProcess(
  env: NodeJS.ProcessEnv,
  logger: Logger = pino({ name: 'ms2m-agent' }),
): Promise<AgentProcess> {
  const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
  /** `{[key]: n}` for a positive number in `v`, else nothing (the default applies). */
  const limit = (key: keyof AgentLimits, v: string | undefined) => {
    const n = num(v);
    if (n !== undefined && !(Number.isFinite(n) && n > 0))
      throw new AgentConfigError(`agent limit ${key} must be a positive number, not '${v}'`);
    return n === undefined ? {} : { [key]: n };
  };
  const token =
    env.MS2M_AGENT_TOKEN ?? (env.MS2M_AGENT_TOKEN_FILE ? readFileSync(env.MS2M_AGENT_TOKEN_FILE, 'utf8').trim() : '');
  if (!token) throw new AgentConfigError('MS2M_AGENT_TOKEN or MS2M_AGENT_TOKEN_FILE is required');
  const storeDir = env.MS2M_AGENT_STORE ?? '/var/lib/ms2m-agent';
  const cs = env.MS2M_AGENT_CONTAINERS_STORAGE ?? 'auto';
  const containerd: ContainerdOptions | undefined = env.MS2M_AGENT_CONTAINERD_SOCKET
    ? {
        socket: env.MS2M_AGENT_CONTAINERD_SOCKET,
        ctr: env.MS2M_AGENT_CTR || 'ctr',
        namespace: env.MS2M_AGENT_CONTAINERD_NAMESPACE || 'k8s.io',
        snapshotter: env.MS2M_AGENT_CONTAINERD_SNAPSHOTTER || 'overlayfs',
      }
    : undefined;
  if (containerd && cs === 'on')
    throw new AgentConfigError(
      'MS2M_AGENT_CONTAINERD_SOCKET and MS2M_AGENT_CONTAINERS_STORAGE=on exclude each other: a node runs one runtime',
    );
  const containersStorage = containerd || cs === 'off' ? false : cs === 'on' ? true : await detectContainersStorage();
  if (containerd) {
    // not fatal: containerd may start after the agent, and transfers work without it; loads fail with the same error
    await new ContainerdImages(containerd).serverVersion().then(
      (version) => logger.info({ ...containerd, version }, 'Loading checkpoint images into containerd'),
      (err: Error) => logger.error({ ...containerd, err }, 'containerd not usable for loading checkpoint images'),
    );
  }
  const user = env.MS2M_AGENT_REGISTRY_USER;
  // V8's gc(), without --expose-gc on the command line: uploads run a young-generation GC every few MiB (agent.ts)
  setFlagsFromString('--expose-gc');
  const v8gc = runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;
  const server = await createAgent({
    logger,
    storeDir,
    checkpointsDir: env.MS2M_AGENT_CHECKPOINTS ?? '/var/lib/kubelet/checkpoints',
    token,
    limits: {
      ...limit('maxBodyBytes', env.MS2M_AGENT_MAX_BODY_BYTES),
      ...limit('maxConcurrentTransfers', env.MS2M_AGENT_MAX_CONCURRENT),
      ...limit('bytesPerSecond', env.MS2M_AGENT_BYTES_PER_SECOND),
      ...limit('bodyIdleMs', env.MS2M_AGENT_BODY_IDLE_MS),
      ...limit('bodyGraceMs', env.MS2M_AGENT_BODY_GRACE_MS),
      ...limit('minBodyBytesPerSecond', env.MS2M_AGENT_MIN_BODY_BYTES_PER_SECOND),
      ...limit('maxBodyMs', env.MS2M_AGENT_MAX_BODY_MS),
      ...limit('headersTimeoutMs', env.MS2M_AGENT_HEADERS_TIMEOUT_MS),
      ...(env.MS2M_AGENT_GC_MAX_AGE_MS ? { gcMaxAgeMs: Number(env.MS2M_AGENT_GC_MAX_AGE_MS) } : {}),
      ...(num(env.MS2M_AGENT_MAX_TAR_ENTRIES)
        ? { tar: { ...DEFAULT_TAR_LIMITS, maxEntries: num(env.MS2M_AGENT_MAX_TAR_ENTRIES) as number } }
        : {}),
    },
    registry: ociRegistry({
      insecure: env.MS2M_AGENT_INSECURE_REGISTRY === '1',
      credentials: user ? () => ({ username: user, password: env.MS2M_AGENT_REGISTRY_PASSWORD ?? '' }) : undefined,
    }),
    loader: createImageLoader({ storeDir, containersStorage, containerd }),
    tls:
      env.MS2M_AGENT_TLS_CERT && env.MS2M_AGENT_TLS_KEY && existsSync(env.MS2M_AGENT_TLS_CERT)
        ? { cert: readFileSync(env.MS2M_AGENT_TLS_CERT), key: readFileSync(env.MS2M_AGENT_TLS_KEY) }
        : undefined,
    minorGc: () => v8gc({ type: 'minor' }),
    peerTls:
      env.MS2M_AGENT_PEER_CA && existsSync(env.MS2M_AGENT_PEER_CA)
        ? { ca: readFileSync(env.MS2M_AGENT_PEER_CA) }
        : undefined,
  });
  const address = await new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(num(env.MS2M_AGENT_PORT) ?? 7443, env.MS2M_AGENT_HOST ?? '0.0.0.0', () =>
      resolve(server.address() as AddressInfo),
    );
  });
  logger.info(
    { port: address.port, host: address.address, storeDir, containersStorage, containerd: Boolean(containerd) },
    'Agent listening',
  );
  return {
    server,
    address,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
