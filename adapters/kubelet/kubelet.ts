import http from 'node:http';
import https from 'node:https';
import { NotFoundError, UnavailableError } from '../errors.ts';
import {
  CheckpointFailedError,
  CheckpointForbiddenError,
  CheckpointProxyError,
  CheckpointTimeoutError,
  CheckpointUnsupportedError,
  EmptyCheckpointError,
} from './errors.ts';
import { ApiStatusWire, CheckpointResponseWire } from './kubelet.wire.ts';
import type { CheckpointRequest, CheckpointResult, Kubelet } from './port.ts';

/** One HTTP exchange, small bodies only. Injectable for tests; the default uses node:http(s). */
export type KubeletFetch = (
  url: URL,
  init: { method: string; headers: Record<string, string>; signal: AbortSignal; tls: https.RequestOptions },
) => Promise<{ status: number; body: string }>;

export interface KubeletClientOptions {
  /** API server URL, e.g. `https://10.0.0.1:6443` (or a kubelet-proxy-speaking server in tests). */
  server: string;
  /** TLS and auth options as `KubeConfig.applyToHTTPSOptions` fills them (ca, cert, key, agent, headers, auth). */
  tls?: https.RequestOptions;
  /** Bearer token (added as `Authorization: Bearer ...` unless `tls.headers` already carries one). */
  token?: string;
  /** Default when a request has no timeoutSeconds. */
  defaultTimeoutSeconds?: number;
  /** Extra client-side wait beyond the kubelet's own timeout before giving up. */
  graceMs?: number;
  fetch?: KubeletFetch;
}

const defaultFetch: KubeletFetch = (url, init) =>
  new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(
      url,
      {
        ...init.tls,
        method: init.method,
        headers: { ...(init.tls.headers as object), ...init.headers },
        signal: init.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 1 << 20) chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });

/** Builds the checkpoint URL by hand: client-node percent-encodes the slashes of `proxy/checkpoint/...`. */
export function checkpointUrl(server: string, req: CheckpointRequest, timeoutSeconds: number): URL {
  const seg = (s: string) => encodeURIComponent(s);
  const base = server.replace(/\/+$/, '');
  return new URL(
    `${base}/api/v1/nodes/${seg(req.node)}/proxy/checkpoint/${seg(req.namespace)}/${seg(req.pod)}/${seg(req.container)}?timeout=${timeoutSeconds}`,
  );
}

/**
 * The kubelet checkpoint client: `POST /api/v1/nodes/{node}/proxy/checkpoint/{ns}/{pod}/{ctr}?timeout=<s>`
 * with the kubeconfig's credentials, answering the archive path on the node.
 *
 * @example
 * ```ts
 * const kubelet = createKubeletClient({ server: 'https://10.0.0.1:6443', tls: { ca }, token });
 * const { path } = await kubelet.checkpoint({ node: 'n1', namespace: 'default', pod: 'myapp-0', container: 'app' });
 * ```
 */
export function createKubeletClient(opts: KubeletClientOptions): Kubelet {
  const doFetch = opts.fetch ?? defaultFetch;
  const tls = opts.tls ?? {};
  return {
    async checkpoint(req: CheckpointRequest): Promise<CheckpointResult> {
      const timeoutSeconds = req.timeoutSeconds ?? opts.defaultTimeoutSeconds ?? 60;
      const target = `container ${req.container} of pod ${req.namespace}/${req.pod} on node ${req.node}`;
      const url = checkpointUrl(opts.server, req, timeoutSeconds);
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
      const waitMs = timeoutSeconds * 1000 + (opts.graceMs ?? 5000);
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new Error(`timed out after ${waitMs} ms`)), waitMs);
      let res: { status: number; body: string };
      try {
        res = await doFetch(url, { method: 'POST', headers, signal: ac.signal, tls });
      } catch (err) {
        if (ac.signal.aborted) throw new CheckpointTimeoutError(target, waitMs, err);
        throw new UnavailableError(
          'Kubelet checkpoint API',
          `${url.origin} for ${target}: ${(err as Error).message}`,
          err,
        );
      } finally {
        clearTimeout(timer);
      }
      return parseAnswer(target, req.node, res, waitMs);
    },
  };
}

function parseAnswer(
  target: string,
  node: string,
  res: { status: number; body: string },
  waitMs: number,
): CheckpointResult {
  const { status, body } = res;
  if (status >= 400) {
    const apiStatus = apiServerStatus(body);
    if (apiStatus) apiServerFailure(target, node, status, apiStatus, waitMs);
  }
  if (status === 404) throw new CheckpointUnsupportedError(target, body);
  if (status === 401 || status === 403) throw new CheckpointForbiddenError(target, status, body);
  if (status === 504 || status === 408) throw new CheckpointTimeoutError(target, waitMs, new Error(body));
  if (status >= 500 && grpcStatusCode(body) === 'DeadlineExceeded')
    throw new CheckpointTimeoutError(target, waitMs, new Error(body));
  if (status === 502 || status === 503)
    throw new UnavailableError('Kubelet checkpoint API', `HTTP ${status} for ${target}: ${body.slice(0, 200)}`);
  if (status >= 400) throw new CheckpointFailedError(target, status, runtimeMessage(body));
  let parsed: CheckpointResponseWire;
  try {
    parsed = CheckpointResponseWire.parse(JSON.parse(body));
  } catch {
    throw new EmptyCheckpointError(target, body);
  }
  const path = parsed.items?.[0];
  if (!path) throw new EmptyCheckpointError(target, body);
  return { path };
}

/** The API server's own `Status` answer, or undefined when the body is the kubelet's (plain text). */
function apiServerStatus(body: string): ApiStatusWire | undefined {
  try {
    const parsed = ApiStatusWire.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A failure of the proxy hop, told by the Status the API server wrote (the request did not reach the kubelet, or
 * the API server refused to send it): never the runtime's, so never a CheckpointFailedError.
 */
function apiServerFailure(target: string, node: string, status: number, s: ApiStatusWire, waitMs: number): never {
  const message = s.message ?? '';
  if (status === 401 || status === 403) throw new CheckpointForbiddenError(target, status, message);
  if (status === 404)
    throw new NotFoundError('Node', node, `the checkpoint of ${target} goes to the node the pod runs on (${message})`);
  if (status === 504 || status === 408) throw new CheckpointTimeoutError(target, waitMs, new Error(message));
  if (status === 429 || status >= 500)
    throw new UnavailableError(
      'Kubelet checkpoint API',
      `HTTP ${status} ${s.reason ?? ''} from the API server for ${target}: ${message.slice(0, 300)}`,
    );
  throw new CheckpointProxyError(target, node, status, s.reason, message);
}

/**
 * The gRPC status code of the runtime's answer the kubelet passes on: the CRI call fails with a gRPC status, and
 * the kubelet's 500 body carries its string form, `rpc error: code = <Code> desc = <text>` (grpc-go's fixed
 * format). Only the code is read; the text is the runtime's own and never matched.
 */
export function grpcStatusCode(body: string): string | undefined {
  const at = body.indexOf(GRPC_CODE);
  if (at < 0) return undefined;
  const rest = body.slice(at + GRPC_CODE.length);
  const end = rest.indexOf(' ');
  const code = end < 0 ? rest : rest.slice(0, end);
  return /^[A-Z][A-Za-z]+$/.test(code) ? code : undefined;
}
const GRPC_CODE = 'rpc error: code = ';

/** Kubelet errors come as plain text or as a Status object with `message`. */
function runtimeMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { message?: unknown };
    if (typeof j.message === 'string') return j.message;
  } catch {
    /* plain text */
  }
  return body;
}
