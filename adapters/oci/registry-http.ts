import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { UnavailableError } from '../errors.ts';
import { RegistryError } from './errors.ts';
import type { TokenResponseWire } from './oci.wire.ts';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** A bearer token used as-is (no token endpoint). */
  token?: string;
}

export interface RegistryHttpOptions {
  /** Plain http (an insecure registry). Default: https. */
  insecure?: boolean;
  /** TLS options for https registries (ca, cert, key, rejectUnauthorized). */
  tls?: https.AgentOptions;
  /** Credentials per registry host (`host[:port]`). */
  credentials?: (registry: string) => RegistryCredentials | undefined;
}

export interface RegistryResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RegistryRequest {
  method: string;
  /** Path (`/v2/...`) or absolute URL (an upload Location). */
  url: string;
  headers?: Record<string, string>;
  /** Body factory: called again if the request must be retried after an auth challenge. */
  body?: () => Readable | Buffer;
}

/**
 * HTTP to one registry for one repository, with basic and bearer-token auth (WWW-Authenticate challenge →
 * token endpoint, token cached per scope). Keep-alive connections; bodies streamed.
 *
 * @example
 * ```ts
 * const s = new RegistrySession('127.0.0.1:5000', 'ckpt/app', { insecure: true });
 * const r = await s.send({ method: 'HEAD', url: '/v2/ckpt/app/blobs/sha256:...' });
 * ```
 */
export class RegistrySession {
  readonly base: URL;
  private readonly agent: http.Agent;
  private authHeader: string | undefined;
  private readonly creds: RegistryCredentials | undefined;

  constructor(
    readonly registry: string,
    readonly repository: string,
    private readonly opts: RegistryHttpOptions,
  ) {
    this.base = new URL(`${opts.insecure ? 'http' : 'https'}://${registry}`);
    this.agent = opts.insecure
      ? new http.Agent({ keepAlive: true })
      : new https.Agent({ keepAlive: true, ...opts.tls });
    this.creds = opts.credentials?.(registry);
    if (this.creds?.token) this.authHeader = `Bearer ${this.creds.token}`;
  }

  close(): void {
    this.agent.destroy();
  }

  /** Sends a request; on a 401 challenge, authenticates once and retries. */
  async send(req: RegistryRequest): Promise<RegistryResponse> {
    const res = await this.once(req);
    if (res.status !== 401) return res;
    const challenge = String(res.headers['www-authenticate'] ?? '');
    const before = this.authHeader;
    await this.authenticate(challenge, res);
    if (this.authHeader === before) return res;
    return this.once(req);
  }

  private async authenticate(challenge: string, res: RegistryResponse): Promise<void> {
    const scheme = challenge.split(' ', 1)[0]?.toLowerCase();
    const c = this.creds;
    if (scheme === 'basic') {
      if (c?.username !== undefined) this.authHeader = basic(c.username, c.password ?? '');
      return;
    }
    if (scheme !== 'bearer')
      throw new RegistryError(`Authentication to ${this.registry}`, res.status, `unsupported challenge "${challenge}"`);
    const p = challengeParams(challenge);
    if (!p.realm)
      throw new RegistryError(
        `Authentication to ${this.registry}`,
        401,
        `bearer challenge without realm: ${challenge}`,
      );
    const u = new URL(p.realm);
    if (p.service) u.searchParams.set('service', p.service);
    u.searchParams.set('scope', p.scope ?? `repository:${this.repository}:pull,push`);
    const headers: Record<string, string> = {};
    if (c?.username !== undefined) headers.Authorization = basic(c.username, c.password ?? '');
    const tr = await raw(
      u,
      { method: 'GET', headers },
      u.protocol === 'https:' ? new https.Agent(this.opts.tls) : undefined,
    );
    if (tr.status !== 200) throw new RegistryError(`Token request to ${u.origin}${u.pathname}`, tr.status, tr.body);
    const tok = JSON.parse(tr.body) as TokenResponseWire;
    const t = tok.token ?? tok.access_token;
    if (!t) throw new RegistryError(`Token request to ${u.origin}${u.pathname}`, tr.status, 'answer carries no token');
    this.authHeader = `Bearer ${t}`;
  }

  private async once(req: RegistryRequest): Promise<RegistryResponse> {
    const url = new URL(req.url, this.base);
    const headers: Record<string, string> = { ...req.headers };
    if (this.authHeader) headers.Authorization = this.authHeader;
    try {
      return await raw(url, { method: req.method, headers, body: req.body?.() }, this.agent);
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new UnavailableError(
        `Registry ${this.registry}`,
        `${req.method} ${url.pathname}: ${(err as Error).message}`,
        err,
      );
    }
  }
}

function basic(u: string, p: string): string {
  return `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
}

/** Parses `Bearer realm="...",service="...",scope="..."`. */
export function challengeParams(h: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of h.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) if (m[1] && m[2] !== undefined) out[m[1]] = m[2];
  return out;
}

function raw(
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: Readable | Buffer | undefined },
  agent: http.Agent | undefined,
): Promise<RegistryResponse> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const headers = { ...init.headers };
    if (Buffer.isBuffer(init.body)) headers['Content-Length'] = String(init.body.length);
    else if (!init.body && init.method !== 'GET' && init.method !== 'HEAD') headers['Content-Length'] = '0';
    const req = mod.request(url, { method: init.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n <= 1 << 20) chunks.push(c);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    const b = init.body;
    if (!b) req.end();
    else if (Buffer.isBuffer(b)) req.end(b);
    else {
      b.on('error', (e) => req.destroy(e));
      b.pipe(req);
    }
  });
}
