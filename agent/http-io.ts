import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { ErrorBodyWire } from './agent.wire.ts';
import { BodyDeadline, type BodyLimits } from './body-deadline.ts';
import { type AgentError, badRequest, tooLarge } from './errors.ts';

/** How long a rejected upload's connection stays open (its bytes read and dropped) so the client reads the answer. */
const LINGER_MS = 200;

/** Reads a small JSON body (max 64 KiB) under the body time limits and validates it. */
export async function readJson<T extends z.ZodType>(
  req: IncomingMessage,
  schema: T,
  limits?: BodyLimits,
): Promise<z.infer<T>> {
  const max = 64 * 1024;
  const chunks: Buffer[] = [];
  let n = 0;
  let expired: AgentError | undefined;
  const deadline = limits
    ? new BodyDeadline(
        limits,
        () => performance.now(),
        (err) => {
          expired = err;
          req.destroy(err);
        },
      )
    : undefined;
  try {
    for await (const c of req) {
      n += (c as Buffer).length;
      deadline?.bytes(n);
      if (n > max) throw tooLarge(max);
      chunks.push(c as Buffer);
    }
  } catch (err) {
    throw expired ?? err;
  } finally {
    deadline?.stop();
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw badRequest('Request body is not JSON');
  }
  const r = schema.safeParse(raw);
  if (!r.success)
    throw badRequest(
      `Request body invalid: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  const b = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': b.length };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers).end(b);
}

/**
 * Answers an error. When the request body was not consumed (a rejected upload) see answerUnread.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, err: AgentError): void {
  if (res.headersSent || res.destroyed || req.socket?.destroyed) {
    res.destroy();
    return;
  }
  const body: ErrorBodyWire = { code: err.code, message: err.message };
  answerUnread(req, res, err.status, body);
}

/**
 * Answers a request whose body may not be consumed (a rejected upload, or one answered from the store without
 * reading it): the connection is closed after the answer, and until then the rest of the body is read and dropped,
 * so the client is not reset before it reads the answer.
 */
export function answerUnread(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  const unread = !req.complete;
  sendJson(res, status, body, unread);
  if (unread) {
    req.unpipe();
    req.resume();
    res.once('finish', () => setTimeout(() => req.socket?.destroy(), LINGER_MS).unref());
  }
}

/** NDJSON writer for streamed answers (progress lines, then one result or error line). */
export function ndjson(res: ServerResponse): (line: unknown) => void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  return (line) => {
    if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(line)}\n`);
  };
}
