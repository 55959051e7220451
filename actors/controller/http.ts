/**
 * The operator's HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (the process answers) and `/readyz`
 * (leading with the first list reconciled, or standing by).
 */
import http from 'node:http';
import type { Registry } from 'prom-client';

/**
 * @example
 * ```ts
 * const server = createOperatorHttp({ registry: metrics.registry, ready: () => operator.ready });
 * server.listen(8080, '0.0.0.0');
 * ```
 */
export function createOperatorHttp(o: { registry: Registry; ready: () => boolean; leading: () => boolean }) {
  return http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://operator').pathname;
    if (req.method !== 'GET') return void res.writeHead(405, { allow: 'GET' }).end();
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (path === '/readyz') {
      const ok = o.ready();
      const role = o.leading() ? 'leader' : 'standby';
      return void res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(`${ok ? 'ok' : 'syncing'} (${role})\n`);
    }
    if (path === '/metrics') {
      o.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
}
