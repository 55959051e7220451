import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { ErrorBodyWire } from './agent.wire.ts';
import { type AgentError, badRequest, tooLarge } from './errors.ts';

/** Reads a small JSON body (max 64 KiB) and validates it. */
export async function readJson<T extends z.ZodType>(req: IncomingMessage, schema: T): Promise<z.infer<T>> {
  const max = 64 * 1024;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) throw tooLarge(max);
    chunks.push(c as Buffer);
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

/** Answers an error; closes the connection when the request body was not consumed (a rejected upload). */
export function sendError(req: IncomingMessage, res: ServerResponse, err: AgentError): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const body: ErrorBodyWire = { code: err.code, message: err.message };
  sendJson(res, err.status, body, !req.complete);
  if (!req.complete) res.once('finish', () => setTimeout(() => req.socket.destroy(), 100).unref());
}

/** NDJSON writer for streamed answers (progress lines, then one result or error line). */
export function ndjson(res: ServerResponse): (line: unknown) => void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  return (line) => {
    if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(line)}\n`);
  };
}
