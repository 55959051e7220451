/**
 * The small HTTP server the workloads answer on: GET routes returning JSON, nothing else.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface JsonReply {
  status: number;
  body: unknown;
}

export type JsonRoutes = Record<string, () => JsonReply>;

export interface JsonServer {
  /** The port it listens on (the one asked for, or the one the kernel chose for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `routes` (exact paths, GET/HEAD; the query string is ignored) on `host:port`.
 *
 * @example
 * ```ts
 * const server = await serveJson({ '/state': () => ({ status: 200, body: { sent: 1 } }) }, 8080);
 * await server.close();
 * ```
 */
export async function serveJson(routes: JsonRoutes, port: number, host = '0.0.0.0'): Promise<JsonServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    let reply: JsonReply;
    if (req.method !== 'GET' && req.method !== 'HEAD') reply = { status: 405, body: { error: 'only GET' } };
    else if (!route) reply = { status: 404, body: { error: `no route ${path}`, routes: Object.keys(routes) } };
    else {
      try {
        reply = route();
      } catch (err) {
        reply = { status: 500, body: { error: (err as Error).message } };
      }
    }
    const text = `${JSON.stringify(reply.body)}\n`;
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : text);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
