/**
 * `ms2m ui`'s web server (node:http), on loopback only: the page, its bundled client, a JSON API over the
 * instances of the log (read-only) and server-sent events when one changes.
 *
 *   GET /                       the app (hash routes: #/ list, #/i/<kind>/<id> one instance, #/eval evaluation)
 *   GET /app.js, /style.css     the bundled client (bundle.ts)
 *   GET /api/instances          every instance's summary, newest first
 *   GET /api/instance?kind&id   one instance: timeline rows, phase segments, replay depth, bytes, visited states
 *   GET /api/diagram.svg?kind&id&view=phases|steps   the chart with the instance drawn over it (Graphviz)
 *   GET /api/evaluation         the evaluation's aggregate charts (vega-lite specs), when the log holds runs
 *   GET /api/events             server-sent events: `change` {kind, id} for each stream that changed
 *
 * Requests whose Host header is not the loopback address it listens on are refused (no DNS rebinding); the
 * page's Content-Security-Policy allows this origin only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { toSvg } from '../../actors/diagram-dot.ts';
import { overlayOf } from '../../actors/diagram-overlay.ts';
import { InvalidInputError, Ms2mError, NotFoundError } from '../../adapters/errors.ts';
import type { EventLogReader } from '../../adapters/event-log/port.ts';
import { keyText } from '../../machines/envelope.ts';
import type { EvaluationCharts, InstanceSummary } from './api.ts';
import { clientBundle } from './bundle.ts';
import { chartOf } from './log-source.ts';
import { instanceDetail, instanceSummary } from './model.ts';
import { InstanceStore } from './store.ts';

export interface UiServerOptions {
  reader: EventLogReader;
  /** Shown in the page header: the log directory or NATS URL. */
  source: string;
  logger: Logger;
  /** Loopback only: 127.0.0.1 (default), ::1 or localhost. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Where the client bundle is cached (default: bundle.ts `cacheRoot()`/ui). */
  cacheDir?: string;
  /** The evaluation page's charts (evaluation.ts `evaluationCharts`; unset: the page says there are none). */
  evaluation?: () => Promise<EvaluationCharts>;
  /** The clock of "now" for running instances (tests). */
  now?: () => number;
}

export interface UiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** True for the addresses the UI may listen on. */
export const isLoopback = (host: string): boolean => LOOPBACK.has(host);

/** Throws unless `host` is a loopback address: the UI is never served to the network. */
export function assertLoopback(host: string): void {
  if (!isLoopback(host))
    throw new InvalidInputError(
      `--host ${host}`,
      'the UI is served on loopback only: use 127.0.0.1, ::1 or localhost (and an SSH tunnel to reach it from elsewhere)',
    );
}

const PAGE = (source: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ms2m</title>
<link rel="stylesheet" href="/style.css">
<link rel="icon" href="data:,">
</head>
<body>
<header><a href="#/" class="brand">ms2m</a><nav><a href="#/">Migrations</a><a href="#/eval">Evaluation</a></nav>
<span class="source" title="event log (read-only)">${escapeHtml(source)}</span><span id="live" class="live">connecting</span></header>
<main id="app"></main>
<script type="module" src="/app.js"></script>
</body>
</html>
`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSP = [
  "default-src 'none'",
  // vega compiles its expressions with Function(): 'unsafe-eval', still from this origin only
  "script-src 'self' 'unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * Starts the UI server on loopback.
 *
 * @example
 * ```ts
 * const ui = await startUiServer({ reader, source: '.ms2m/log', logger, port: 7070 });
 * console.log(ui.url); // http://127.0.0.1:7070/
 * ```
 */
export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const host = opts.host ?? '127.0.0.1';
  assertLoopback(host);
  const now = opts.now ?? Date.now;
  const bundle = await clientBundle(opts.cacheDir ? { cacheDir: opts.cacheDir } : {});
  const store = await InstanceStore.open(opts.reader, opts.logger);
  const svgCache = new Map<string, string>();
  const summaries = new Map<string, InstanceSummary>();
  const sse = new Set<ServerResponse>();
  const unsubscribe = store.onChange((key) => {
    const data = `event: change\ndata: ${JSON.stringify(key)}\n\n`;
    for (const res of sse) res.write(data);
  });
  const heartbeat = setInterval(() => {
    for (const res of sse) res.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();

  const instanceOf = (url: URL) => {
    const kind = url.searchParams.get('kind');
    const id = url.searchParams.get('id');
    if (!kind || !id) throw new InvalidInputError('Request', 'needs ?kind=…&id=…');
    const chart = chartOf(kind);
    const inst = store.get({ kind, id });
    if (!inst) throw new NotFoundError(kind, id, `no events of it in ${opts.source}`);
    return { chart, inst };
  };

  const routes: Record<string, (url: URL, res: ServerResponse, req: IncomingMessage) => Promise<void> | void> = {
    '/': (_u, res) => send(res, 200, 'text/html; charset=utf-8', PAGE(opts.source)),
    '/index.html': (_u, res) => send(res, 200, 'text/html; charset=utf-8', PAGE(opts.source)),
    '/app.js': (_u, res) => send(res, 200, 'text/javascript; charset=utf-8', bundle.js, 'no-cache'),
    '/style.css': (_u, res) => send(res, 200, 'text/css; charset=utf-8', bundle.css, 'no-cache'),
    '/api/instances': (_u, res) => {
      const t = now();
      const instances = store.list().map((s) => {
        // a finished instance's summary never changes: folded once (a log of an evaluation holds thousands)
        const k = keyText(s.key);
        const kept = summaries.get(k);
        if (kept && kept.events === s.events.length) return kept;
        const summary = instanceSummary(chartOf(s.key.kind), s.events, t);
        if (summary.done) summaries.set(k, summary);
        return summary;
      });
      json(res, { source: opts.source, instances });
    },
    '/api/instance': (u, res) => {
      const { chart, inst } = instanceOf(u);
      json(res, instanceDetail(chart, inst.events, now()));
    },
    '/api/diagram.svg': async (u, res) => {
      const { chart, inst } = instanceOf(u);
      const view = u.searchParams.get('view') ?? 'phases';
      if (view !== 'phases' && view !== 'steps') throw new InvalidInputError(`view ${view}`, 'use phases or steps');
      const overlay = overlayOf(chart, inst.events, now());
      // a finished instance's drawing never changes; a running one's times do
      const cacheKey = `${keyText(inst.key)}#${inst.events.length}#${view}`;
      let svg = overlay.done ? svgCache.get(cacheKey) : undefined;
      if (!svg) {
        svg = await toSvg(chart.machine, { overlay, phasesOnly: view === 'phases' });
        if (overlay.done) svgCache.set(cacheKey, svg);
      }
      send(res, 200, 'image/svg+xml; charset=utf-8', svg);
    },
    '/api/evaluation': async (_u, res) => {
      json(
        res,
        opts.evaluation
          ? await opts.evaluation()
          : { title: 'Evaluation', note: 'This server was started without the analysis.', charts: [] },
      );
    },
    '/api/events': (_u, res, req) => {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write('retry: 1000\nevent: hello\ndata: {}\n\n');
      sse.add(res);
      req.on('close', () => sse.delete(res));
    },
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const port = (server.address() as AddressInfo).port;
      const allowed = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
      if (!allowed.has(req.headers.host ?? ''))
        return send(res, 421, 'text/plain', 'ms2m ui answers on loopback only\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'read-only\n');
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      const route = routes[url.pathname];
      if (!route) return send(res, 404, 'text/plain', `not found: ${url.pathname}\n`);
      try {
        await route(url, res, req);
      } catch (err) {
        const code = err instanceof NotFoundError ? 404 : err instanceof InvalidInputError ? 400 : 500;
        if (code === 500) opts.logger.error({ err: (err as Error).message, path: url.pathname }, 'UI request failed');
        if (!res.headersSent) json(res, { error: err instanceof Ms2mError ? err.message : String(err) }, code);
        else res.end();
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host === '::1' ? '[::1]' : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    async close() {
      clearInterval(heartbeat);
      unsubscribe();
      for (const res of sse) res.end();
      sse.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await store.close();
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string, cache = 'no-store'): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': cache,
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(body);
}

function json(res: ServerResponse, body: unknown, status = 200): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}
