import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from '../adapters/oci/port.ts';
import { type CheckpointEntryWire, GcBody, PredumpBody } from './agent.wire.ts';
import { bearerMatches } from './auth.ts';
import { gcCheckpoints, removeCheckpoint } from './checkpoint-images.ts';
import { type AgentContext, type AgentLimits, SOCKET_BUFFER } from './context.ts';
import { badRequest, notFound, toAgentError, tooMany, unauthorized } from './errors.ts';
import { readJson, sendError, sendJson } from './http-io.ts';
import type { ImageLoader } from './loader.ts';
import { createPredumpControl, detectPredump, type PredumpControl } from './predump.ts';
import { loadStoredCheckpoint, receiveCheckpoint } from './receive.ts';
import { pushCheckpoint, sendCheckpoint } from './send.ts';
import { createCheckpointStore, type StoredCheckpoint } from './store.ts';
import { DEFAULT_TAR_LIMITS } from './tar-safety.ts';
import { Transfers } from './transfers.ts';

export interface AgentDeps {
  logger: Logger;
  /** The agent's own store (archives, temp files, OCI layouts). Nothing is written elsewhere. */
  storeDir: string;
  /** The kubelet's checkpoint folder (read only): send/push read archives from here or from the store. */
  checkpointsDir: string;
  /** Bearer token every request must carry (also used towards peer agents). */
  token: string;
  limits?: Partial<AgentLimits>;
  registry: Registry;
  loader: ImageLoader;
  predump?: PredumpControl;
  clock?: { now(): number };
  /** Serve https with this key pair; peers are called with `peerTls`. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  peerTls?: https.AgentOptions;
  /**
   * A young-generation GC (`main.ts` passes V8's). Every socket read of an upload is a fresh 64 KiB buffer that
   * V8 frees only at its next GC, which external memory alone triggers only after ~64 MiB: calling this every
   * 4 MiB received (receive-sink.ts GC_EVERY) keeps the agent's RSS flat and low. Unset (tests): no forced GC.
   */
  minorGc?: () => void;
}

export const DEFAULT_LIMITS: AgentLimits = {
  maxBodyBytes: 64 * 1024 ** 3,
  maxConcurrentTransfers: 4,
  tar: DEFAULT_TAR_LIMITS,
  bodyIdleMs: 30_000,
  bodyGraceMs: 60_000,
  minBodyBytesPerSecond: 1024 * 1024,
  maxBodyMs: 6 * 3600_000,
  headersTimeoutMs: 20_000,
  gcMaxAgeMs: 6 * 3600_000,
};

type Handler = (
  ctx: AgentContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  ...params: string[]
) => Promise<void>;

const routes: { method: string; path: RegExp; transfer?: boolean; run: Handler }[] = [
  {
    method: 'GET',
    path: /^\/v1\/healthz$/,
    run: async (c, _q, s) => sendJson(s, 200, { ok: true, transfers: c.transfers.running }),
  },
  {
    method: 'GET',
    path: /^\/v1\/transfers$/,
    run: async (c, _q, s) => sendJson(s, 200, { items: c.transfers.list() }),
  },
  { method: 'PUT', path: /^\/v1\/checkpoints$/, transfer: true, run: receiveCheckpoint },
  {
    method: 'PUT',
    path: /^\/v1\/checkpoints\/([^/]+)\/images\/([^/]+)$/,
    transfer: true,
    run: (c, q, s, id, container) => loadStoredCheckpoint(c, q, s, id ?? '', container ?? ''),
  },
  {
    method: 'GET',
    path: /^\/v1\/checkpoints$/,
    run: async (c, _q, s) => sendJson(s, 200, { items: (await c.store.list()).map(publicEntry) }),
  },
  {
    method: 'GET',
    path: /^\/v1\/checkpoints\/([^/]+)$/,
    run: async (c, _q, s, id) => {
      const e = await c.store.get(id ?? '');
      if (!e) throw notFound(`Checkpoint ${id}`);
      sendJson(s, 200, publicEntry(e));
    },
  },
  {
    method: 'DELETE',
    path: /^\/v1\/checkpoints\/([^/]+)$/,
    run: async (c, _q, s, id) => {
      await removeCheckpoint(c, id ?? '');
      s.writeHead(204).end();
    },
  },
  { method: 'POST', path: /^\/v1\/send$/, transfer: true, run: sendCheckpoint },
  { method: 'POST', path: /^\/v1\/push$/, transfer: true, run: pushCheckpoint },
  {
    method: 'POST',
    path: /^\/v1\/gc$/,
    run: async (c, q, s) =>
      sendJson(s, 200, { removed: await gcCheckpoints(c, (await readJson(q, GcBody, c.limits)).olderThanMs) }),
  },
  {
    method: 'POST',
    path: /^\/v1\/predump$/,
    run: async (c, q, s) => sendJson(s, 200, await c.predump.handle(await readJson(q, PredumpBody, c.limits))),
  },
];

function decodeParam(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw badRequest(`Path segment "${p.slice(0, 80)}" is not valid percent-encoding`);
  }
}

function publicEntry(e: StoredCheckpoint): CheckpointEntryWire {
  const { id, container, migrationId, bytes, sha256, createdAt, lastUsedAt, migrationIds } = e;
  const images = e.images.map((i) => ({ container: i.container, image: i.image }));
  return {
    id,
    container,
    ...(migrationId ? { migrationId } : {}),
    bytes,
    sha256,
    createdAt,
    lastUsedAt,
    images,
    migrationIds,
  };
}

/**
 * Builds the node agent: an http (or https, with `tls`) server, not yet listening. Bearer auth on every
 * request (constant-time), a concurrency limit (429 beyond), size, time and tar checks on uploads, and, with
 * `limits.gcMaxAgeMs`, a periodic GC of unused archives (stopped when the server closes).
 *
 * @example
 * ```ts
 * const server = await createAgent({ logger: pino(), storeDir: '/var/lib/ms2m-agent',
 *   checkpointsDir: '/var/lib/kubelet/checkpoints', token, registry: ociRegistry(), loader });
 * server.listen(7443);
 * ```
 */
export async function createAgent(deps: AgentDeps): Promise<http.Server> {
  const store = createCheckpointStore({
    dir: deps.storeDir,
    now: deps.clock ? () => deps.clock?.now() ?? Date.now() : undefined,
  });
  await store.init();
  const limits: AgentLimits = {
    ...DEFAULT_LIMITS,
    ...deps.limits,
    tar: { ...DEFAULT_TAR_LIMITS, ...deps.limits?.tar },
  };
  const ownPredump = deps.predump ? undefined : createPredumpControl({ detect: () => detectPredump() });
  await store.sweep();
  const ctx: AgentContext = {
    logger: deps.logger,
    store,
    loader: deps.loader,
    registry: deps.registry,
    predump: deps.predump ?? (ownPredump as PredumpControl),
    limits,
    token: deps.token,
    readableRoots: [deps.checkpointsDir, join(deps.storeDir, 'archives')],
    transfers: new Transfers(limits.maxConcurrentTransfers),
    now: () => deps.clock?.now() ?? performance.now(),
    peerTls: deps.peerTls,
    minorGc: deps.minorGc,
  };
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    let acquired = false;
    req.on('error', () => undefined); // aborted uploads: handlers see the error through their pipelines
    try {
      if (!bearerMatches(req, deps.token)) throw unauthorized();
      const url = new URL(req.url ?? '/', 'http://agent');
      let params: string[] = [];
      const route = routes.find((r) => {
        const m = r.method === req.method ? r.path.exec(url.pathname) : null;
        if (m) params = m.slice(1).map(decodeParam);
        return m !== null;
      });
      if (!route) throw notFound(`Route ${req.method} ${url.pathname}`);
      if (route.transfer) {
        if (!ctx.transfers.tryAcquire()) throw tooMany(limits.maxConcurrentTransfers);
        acquired = true;
      }
      await route.run(ctx, req, res, ...params);
    } catch (err) {
      const e = toAgentError(err);
      const where = { code: e.code, status: e.status, method: req.method, url: req.url };
      if (e.status === 499) deps.logger.info(where, 'Agent request abandoned by the client');
      else if (e.status >= 500) deps.logger.error({ ...where, err: e.message }, 'Agent request failed');
      else deps.logger.info({ ...where, err: e.message }, 'Agent request rejected');
      sendError(req, res, e);
    } finally {
      if (acquired) ctx.transfers.release();
    }
  };
  const serverOptions: http.ServerOptions = {
    highWaterMark: SOCKET_BUFFER,
    headersTimeout: limits.headersTimeoutMs,
    // node enforces headersTimeout on this period (default 30 s): check often enough for the limit to hold
    connectionsCheckingInterval: Math.max(50, Math.min(limits.headersTimeoutMs / 4, 30_000)),
  };
  const server = deps.tls
    ? https.createServer({ ...serverOptions, cert: deps.tls.cert, key: deps.tls.key }, (q, s) => void handle(q, s))
    : http.createServer(serverOptions, (q, s) => void handle(q, s));
  // multi-GiB bodies: no whole-request timeout from node; bodies are watched by BodyDeadline (idle, rate, total)
  server.requestTimeout = 0;
  const gcTimer =
    limits.gcMaxAgeMs > 0
      ? setInterval(
          () =>
            void gcCheckpoints(ctx, limits.gcMaxAgeMs).then(
              (n) => n && deps.logger.info({ removed: n }, 'Removed unused checkpoint archives'),
              (err: Error) => deps.logger.warn({ err: err.message }, 'Checkpoint GC failed'),
            ),
          Math.min(limits.gcMaxAgeMs, 600_000),
        ).unref()
      : undefined;
  server.on('close', () => {
    clearInterval(gcTimer);
    (ownPredump as { close?: () => void } | undefined)?.close?.();
  });
  return server;
}
