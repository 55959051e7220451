import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sep } from 'node:path';
import { HEADER_MIGRATION, PushBody, SendBody, type TransferLineWire, type TransferResultWire } from './agent.wire.ts';
import type { AgentContext } from './context.ts';
import { badRequest, clientAborted, notFound, toAgentError } from './errors.ts';
import { ndjson, readJson } from './http-io.ts';
import { checkPeerAnswer, peerAgent, peerError, upload } from './upload.ts';

/** sha256 of local archives already streamed once, keyed by dev:ino:size:mtime (a retry can then skip). */
const digestCache = new Map<string, string>();

/** Resolves a checkpoint path the caller named; it must be a regular file under one of the readable roots. */
async function resolveLocal(ctx: AgentContext, p: string): Promise<{ path: string; size: number; cacheKey: string }> {
  let real: string;
  try {
    real = await realpath(p);
  } catch {
    throw notFound(`Checkpoint archive ${p} on this node`);
  }
  const roots = await Promise.all(ctx.readableRoots.map((r) => realpath(r).catch(() => null)));
  if (!roots.some((r) => r !== null && real.startsWith(r + sep)))
    throw badRequest(`Checkpoint path ${p} is outside the agent's checkpoint folders`);
  const st = await stat(real);
  if (!st.isFile()) throw badRequest(`Checkpoint path ${p} is not a regular file`);
  return { path: real, size: st.size, cacheKey: `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}` };
}

/** Throttled progress: at most every 200 ms, plus the final value. */
function progressWriter(write: (l: TransferLineWire) => void, total: number, now: () => number) {
  let last = 0;
  return (n: number) => {
    const t = now();
    if (n === total || t - last >= 200) {
      last = t;
      write({ type: 'progress', bytesTransferred: n, bytesTotal: total });
    }
  };
}

async function streamed(
  ctx: AgentContext,
  req: IncomingMessage,
  res: ServerResponse,
  work: (write: (l: TransferLineWire) => void, signal: AbortSignal) => Promise<TransferResultWire>,
) {
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ac.abort(clientAborted('Transfer stream'));
  });
  const write = ndjson(res);
  try {
    const r = await work(write, ac.signal);
    write({ type: 'result', ...r });
  } catch (err) {
    const e = toAgentError(ac.signal.aborted ? ac.signal.reason : err);
    if (e.status === 499) ctx.logger.info({ code: e.code, url: req.url }, 'Transfer abandoned by the caller');
    else ctx.logger.warn({ code: e.code, err: e.message, url: req.url }, 'Transfer failed');
    write({ type: 'error', code: e.code, message: e.message, status: e.status, transient: e.transient });
  }
  res.end();
}

/** POST /v1/send: streams a local checkpoint to the target agent (node to node, no Job pod). NDJSON answer. */
export async function sendCheckpoint(ctx: AgentContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req, SendBody, ctx.limits);
  const local = await resolveLocal(ctx, body.checkpointPath);
  await streamed(ctx, req, res, async (write, signal) => {
    const t = ctx.transfers.begin('send', body.migrationId, local.size);
    const onBytes = progressWriter(write, local.size, ctx.now);
    try {
      const known = digestCache.get(local.cacheKey);
      if (known) {
        // the target may hold this archive already: it answers with its image for this container, or 404
        const path = `/v1/checkpoints/${known}/images/${body.container}`;
        const have = await peerCall(ctx, body.targetUrl, 'PUT', path, signal, {
          [HEADER_MIGRATION]: body.migrationId,
        });
        if (have.status === 200) {
          const r = checkPeerAnswer(new URL(body.targetUrl).host, JSON.parse(have.body), known, body.container);
          onBytes(local.size);
          return r;
        }
        if (have.status !== 404) throw peerError(new URL(body.targetUrl).host, have.status, have.body);
      }
      const r = await upload(ctx, body, local, signal, (n) => {
        t.progress(n);
        onBytes(n);
      });
      digestCache.set(local.cacheKey, r.sha256);
      return r;
    } finally {
      t.end();
    }
  });
}

/** POST /v1/push: pushes a local checkpoint to a registry with the Registry adapter. NDJSON answer. */
export async function pushCheckpoint(ctx: AgentContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req, PushBody, ctx.limits);
  const local = await resolveLocal(ctx, body.checkpointPath);
  await streamed(ctx, req, res, async (write) => {
    const t = ctx.transfers.begin('push', body.migrationId, local.size);
    const onBytes = progressWriter(write, local.size, ctx.now);
    try {
      const known = digestCache.get(local.cacheKey);
      const r = await ctx.registry.pushCheckpointImage(
        {
          ref: body.imageRef,
          container: body.container,
          tarPath: local.path,
          ...(known ? { digest: `sha256:${known}`, size: local.size } : {}),
        },
        (n) => {
          t.progress(n);
          onBytes(n);
        },
      );
      digestCache.set(local.cacheKey, r.layerDigest.slice(7));
      return { image: body.imageRef, bytes: r.bytes, sha256: r.layerDigest.slice(7) };
    } finally {
      t.end();
    }
  });
}

function peerCall(
  ctx: AgentContext,
  base: string,
  method: string,
  path: string,
  signal: AbortSignal,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const url = new URL(path, base);
  const { mod, agent } = peerAgent(ctx, url);
  return new Promise((resolve, reject) => {
    const options = { method, agent, signal, headers: { ...headers, authorization: `Bearer ${ctx.token}` } };
    const r = mod.request(url, options, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (c: string) => (b += c.slice(0, 65536)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    r.on('error', reject);
    r.end();
  });
}
