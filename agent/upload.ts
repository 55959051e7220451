import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { directCheckpointImage } from '../adapters/agent-client/port.ts';
import { ErrorCode, errorCodeFromWire } from '../adapters/errors.ts';
import {
  HEADER_CONTAINER,
  HEADER_MIGRATION,
  HEADER_SHA256,
  type SendBody,
  type TransferResultWire,
} from './agent.wire.ts';
import { type AgentContext, SOCKET_BUFFER } from './context.ts';
import { AgentError, peerAnswerMismatch } from './errors.ts';

/** Read size of the sender, and how many such buffers it cycles (the most it holds: CHUNK × POOL). */
const CHUNK = 1 << 20;
const POOL = 4;

export function peerAgent(ctx: AgentContext, url: URL) {
  return url.protocol === 'https:'
    ? { mod: https, agent: new https.Agent({ ...ctx.peerTls }) }
    : { mod: http, agent: undefined };
}

/** The peer's error answer as an AgentError (its code kept when registered). */
export function peerError(peer: string, status: number, body: string): AgentError {
  let j: { code?: unknown; message?: string } = {};
  try {
    j = JSON.parse(body);
  } catch {
    /* not JSON */
  }
  return new AgentError(
    errorCodeFromWire(j.code, ErrorCode.PEER_ERROR),
    status >= 400 ? status : 502,
    `Target agent ${peer} refused the checkpoint: ${j.message ?? body.slice(0, 300)}`,
  );
}

/**
 * A peer's answer for a load, accepted only when it names exactly the archive sent (`sha256`) and the image for
 * `container` made from it. Anything else would have the target pod restore another process state.
 */
export function checkPeerAnswer(peer: string, r: TransferResultWire, sha256: string, container: string) {
  const want = directCheckpointImage(container, sha256);
  if (r.sha256 !== sha256) throw peerAnswerMismatch(peer, `it stored sha256 ${r.sha256}, the sender sent ${sha256}`);
  if (r.image !== want) throw peerAnswerMismatch(peer, `it named image ${r.image}, expected ${want}`);
  return { image: r.image, bytes: r.bytes, sha256: r.sha256 };
}

/**
 * Streams the file to the peer's PUT /v1/checkpoints, sha256 computed on the way and sent as a trailer. The
 * answer must name that sha256 and the image made from it (checkPeerAnswer).
 * The file is read into a fixed pool of buffers, each reused once the socket has taken it (no allocation, no
 * page faults per chunk): constant memory, whatever the archive size.
 */
export function upload(
  ctx: AgentContext,
  body: SendBody,
  local: { path: string; size: number },
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<TransferResultWire> {
  const url = new URL('/v1/checkpoints', body.targetUrl);
  const { mod, agent } = peerAgent(ctx, url);
  // highWaterMark is passed on to the socket (net.connect), which is missing from RequestOptions' type
  const options = {
    method: 'PUT',
    agent,
    signal,
    highWaterMark: SOCKET_BUFFER,
    headers: {
      authorization: `Bearer ${ctx.token}`,
      'content-type': 'application/x-tar',
      'transfer-encoding': 'chunked',
      trailer: HEADER_SHA256,
      [HEADER_CONTAINER]: body.container,
      [HEADER_MIGRATION]: body.migrationId,
    },
  };
  return new Promise((resolve, reject) => {
    let answered = false;
    let sent: string | undefined;
    const out = mod.request(url, options, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (c: string) => (b += c.slice(0, 65536)));
      res.on('end', () => {
        answered = true;
        const status = res.statusCode ?? 0;
        if (status !== 200 && status !== 201) return reject(peerError(url.host, status, b));
        try {
          if (!sent) throw peerAnswerMismatch(url.host, 'it answered before the whole archive was sent');
          resolve(checkPeerAnswer(url.host, JSON.parse(b) as TransferResultWire, sent, body.container));
        } catch (err) {
          reject(err);
        }
      });
    });
    out.on('error', (err) =>
      reject(
        new AgentError(ErrorCode.PEER_UNAVAILABLE, 503, `Target agent ${url.host} unreachable: ${err.message}`, {
          cause: err,
          transient: true,
        }),
      ),
    );
    pump(
      local.path,
      out,
      () => answered || out.destroyed,
      ctx.limits.bytesPerSecond,
      onBytes,
      (d) => (sent = d),
    ).catch((err: Error) => out.destroy(err));
  });
}

/** Reads, hashes and writes the file; ends the request with the sha256 trailer. Stops early once `stopped()`. */
async function pump(
  path: string,
  out: http.ClientRequest,
  stopped: () => boolean,
  rate: number | undefined,
  onBytes: (n: number) => void,
  onDigest: (sha256: string) => void,
): Promise<void> {
  const fh = await open(path, 'r');
  const free: Buffer[] = Array.from({ length: POOL }, () => Buffer.allocUnsafeSlow(CHUNK));
  let wake: (() => void) | undefined;
  const woken = () => {
    wake?.();
    wake = undefined;
  };
  out.once('close', woken);
  const hash = createHash('sha256');
  const started = performance.now();
  let pos = 0;
  try {
    for (;;) {
      while (free.length === 0 && !stopped()) await new Promise<void>((r) => (wake = r));
      if (stopped()) return;
      const buf = free.pop() as Buffer;
      const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      const chunk = bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead);
      hash.update(chunk);
      pos += bytesRead;
      onBytes(pos);
      const dueMs = rate ? (pos / rate) * 1000 - (performance.now() - started) : 0;
      if (dueMs > 1) await new Promise((r) => setTimeout(r, dueMs));
      if (stopped()) return;
      // the socket has copied the chunk when the callback runs: the buffer goes back to the pool
      out.write(chunk, () => {
        free.push(buf);
        woken();
      });
    }
    const digest = hash.digest('hex');
    onDigest(digest);
    out.addTrailers({ [HEADER_SHA256]: digest });
    out.end();
  } finally {
    out.off('close', woken);
    await fh.close();
  }
}
