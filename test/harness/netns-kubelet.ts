/**
 * Test harness: a stand-in for a kubelet's HTTPS endpoint, reachable by kube-apiserver's node proxy. The API server
 * refuses to proxy to loopback or link-local addresses, so the server listens on a private address inside a network
 * namespace this harness creates (ip netns + a veth pair: `.1` on the host, `.2` in the namespace, a /30 of
 * 10.231.0.0/16 no host address or route uses). The server runs as a child `node` process entered into the
 * namespace with `nsenter --net` (not `ip netns exec`, which remounts /sys), serves a certificate signed by the
 * cluster CA for its address, and asks for the client's certificate as a kubelet with x509 authentication does.
 * It answers `POST /checkpoint/{ns}/{pod}/{ctr}` from a table and reports every request on its stdout (one JSON
 * line each). `stop()` ends the server by its PID and deletes the veth and the namespace it created, and only those.
 *
 * @example
 * ```ts
 * const kubelet = await startNetnsKubelet({ caCertPath, caKeyPath, seed: 42,
 *   answers: { 'default/app-0/app': { status: 200, body: '{"items":["/var/lib/kubelet/checkpoints/c.tar"]}' } } });
 * // register a Node with status.addresses [{type: InternalIP, address: kubelet.ip}], daemonEndpoints port kubelet.port
 * const req = await kubelet.nextRequest((r) => r.path.startsWith('/checkpoint/'));
 * await kubelet.stop();
 * ```
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createServingCert } from '../../cluster/control-plane/pki.ts';

const run = promisify(execFile);

/** The kubelet's port (daemonEndpoints.kubeletEndpoint.Port). */
export const KUBELET_PORT = 10250;

export interface KubeletAnswer {
  status: number;
  body: string;
  /** Default `application/json` for 2xx, else `text/plain; charset=utf-8` (the kubelet's error answers). */
  contentType?: string;
}

export interface KubeletRequest {
  method: string;
  /** Path and query as received, e.g. `/checkpoint/default/app-0/app?timeout=17` */
  url: string;
  path: string;
  query: Record<string, string>;
  /** CN of the client certificate the caller presented (the API server's kubelet client identity). */
  clientCN: string | null;
  status: number;
}

export interface NetnsKubeletOptions {
  /** The cluster CA that signs the serving certificate and verifies the API server's client certificate. */
  caCertPath: string;
  caKeyPath: string;
  /** Picks the namespace's name and address: the same seed, the same names (printed on failure). */
  seed: number;
  /** Answers of `POST /checkpoint/{ns}/{pod}/{ctr}` by `<ns>/<pod>/<ctr>`; anything else gets the kubelet's 404. */
  answers: Record<string, KubeletAnswer>;
  /** Deadline of each wait (ms). Default 15 s. */
  timeoutMs?: number;
}

export interface NetnsKubelet {
  readonly netns: string;
  /** The veth end on the host (the route to `ip`). */
  readonly hostInterface: string;
  readonly hostIp: string;
  /** The server's address inside the namespace: the node's InternalIP. */
  readonly ip: string;
  readonly port: number;
  readonly pid: number;
  /** Every request received, in order. */
  readonly requests: readonly KubeletRequest[];
  /** Adds or replaces the answer for `<ns>/<pod>/<ctr>` in the running server; resolves once it took it. */
  setAnswer(key: string, answer: KubeletAnswer): Promise<void>;
  /** Waits for a received request matching `match` (an earlier one counts), up to the timeout. */
  nextRequest(match: (r: KubeletRequest) => boolean): Promise<KubeletRequest>;
  /** Stops the server (by PID), deletes the veth pair and the namespace. Idempotent; runs every step. */
  stop(): Promise<void>;
}

/** A failed step of the harness, with the command's own error output. */
export class NetnsKubeletError extends Error {
  readonly code = 'NETNS_KUBELET_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetnsKubeletError';
  }
}

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args, { timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new NetnsKubeletError(`ip ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

/** Seeded bytes (sha256 counter mode): names and addresses follow from the seed. */
function seededBytes(seed: number): (n: number) => Buffer {
  let counter = 0;
  return (n) => {
    const out: Buffer[] = [];
    while (Buffer.concat(out).length < n) out.push(createHash('sha256').update(`${seed}:${counter++}`).digest());
    return Buffer.concat(out).subarray(0, n);
  };
}

/** IPv4 addresses (a.b.c.d/len) in use on the host: interface addresses and routes. */
async function hostIpv4Prefixes(): Promise<Array<{ net: number; len: number }>> {
  const [addrs, routes] = await Promise.all([
    run('ip', ['-4', '-o', 'addr', 'show'], { timeout: 10_000 }),
    run('ip', ['-4', 'route', 'show', 'table', 'all'], { timeout: 10_000 }),
  ]);
  const out: Array<{ net: number; len: number }> = [];
  for (const m of `${addrs.stdout}\n${routes.stdout}`.matchAll(/(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/g)) {
    const len = m[2] === undefined ? 32 : Number(m[2]);
    if (len === 0) continue; // the default route covers everything and says nothing about use
    out.push({ net: toInt(m[1]!), len });
  }
  return out;
}

const toInt = (a: string): number => a.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
const mask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
const overlaps = (a: { net: number; len: number }, b: { net: number; len: number }): boolean => {
  const len = Math.min(a.len, b.len);
  return (a.net & mask(len)) >>> 0 === (b.net & mask(len)) >>> 0;
};

/** The server run inside the namespace: plain JavaScript, since the child `node` has no TypeScript loader. */
const SERVER_SOURCE = `
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const server = https.createServer(
  { cert: readFileSync(cfg.cert), key: readFileSync(cfg.key), ca: readFileSync(cfg.ca), requestCert: true, rejectUnauthorized: true },
  (req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url, 'https://kubelet');
      const m = /^\\/checkpoint\\/([^/]+)\\/([^/]+)\\/([^/]+)$/.exec(url.pathname);
      const found = req.method === 'POST' && m ? cfg.answers[m.slice(1, 4).map(decodeURIComponent).join('/')] : undefined;
      const answer = found ?? { status: 404, body: '404 page not found\\n' };
      const peer = req.socket.getPeerCertificate();
      emit({ event: 'request', method: req.method, url: req.url, path: url.pathname,
        query: Object.fromEntries(url.searchParams), clientCN: peer?.subject?.CN ?? null, status: answer.status });
      const type = answer.contentType ?? (answer.status < 300 ? 'application/json' : 'text/plain; charset=utf-8');
      res.writeHead(answer.status, { 'Content-Type': type });
      res.end(answer.body);
    });
  },
);
server.on('tlsClientError', (err) => emit({ event: 'tlsClientError', message: err.message }));
server.listen(cfg.port, cfg.host, () => emit({ event: 'listening', address: server.address() }));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // the API server keeps its connections to kubelets alive
});
// the test process holds the other end of stdin: it sends answers to add ({key, answer} lines); when it dies
// without stopping us, stdin ends and so do we
createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  cfg.answers[m.key] = m.answer;
  emit({ event: 'answered', key: m.key });
});
process.stdin.on('end', () => process.exit(0));
`;

/**
 * Creates the namespace and veth, starts the server inside and waits until it listens.
 */
export async function startNetnsKubelet(opts: NetnsKubeletOptions): Promise<NetnsKubelet> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const bytes = seededBytes(opts.seed);
  const undo: Array<() => Promise<void>> = [];
  const requests: KubeletRequest[] = [];
  const waiters = new Set<() => void>();
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const errors: unknown[] = [];
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length) throw new AggregateError(errors, 'netns kubelet: some teardown steps failed');
  };

  try {
    // a /30 of 10.231.0.0/16 that no host address or route overlaps
    const used = await hostIpv4Prefixes();
    let net: number | undefined;
    for (let i = 0; i < 64 && net === undefined; i++) {
      const b = bytes(2);
      const candidate = toInt(`10.231.${b[0]}.${b[1]! & 0xfc}`);
      if (!used.some((u) => overlaps(u, { net: candidate, len: 30 }))) net = candidate;
    }
    if (net === undefined) throw new NetnsKubeletError('no free /30 in 10.231.0.0/16 on this host');
    const dotted = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
    const hostIp = dotted(net + 1);
    const nodeIp = dotted(net + 2);
    const tag = bytes(4).toString('hex').slice(0, 6);
    const netns = `ms2m-t-${tag}`;
    const hostInterface = `m2h${tag}`;
    const nsInterface = `m2n${tag}`;

    const dir = await mkdtemp(join(tmpdir(), 'ms2m-netns-kubelet-'));
    undo.push(() => rm(dir, { recursive: true, force: true }));

    await ip(['netns', 'add', netns]);
    undo.push(() => ip(['netns', 'delete', netns]));
    await ip(['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', nsInterface, 'netns', netns]);
    // deleting one end deletes the pair; the namespace's deletion would too, this is the explicit step
    undo.push(() => ip(['link', 'delete', hostInterface]));
    await ip(['addr', 'add', `${hostIp}/30`, 'dev', hostInterface]);
    await ip(['link', 'set', hostInterface, 'up']);
    await ip(['-n', netns, 'addr', 'add', `${nodeIp}/30`, 'dev', nsInterface]);
    await ip(['-n', netns, 'link', 'set', nsInterface, 'up']);
    await ip(['-n', netns, 'link', 'set', 'lo', 'up']);

    const ca = { cert: opts.caCertPath, key: opts.caKeyPath };
    const serving = await createServingCert(dir, ca, 'kubelet-serving', `kubelet-${netns}`, [`IP:${nodeIp}`]);
    const script = join(dir, 'kubelet-server.mjs');
    const config = join(dir, 'kubelet-server.json');
    await writeFile(script, SERVER_SOURCE);
    await writeFile(
      config,
      JSON.stringify({
        cert: serving.cert,
        key: serving.key,
        ca: opts.caCertPath,
        host: nodeIp,
        port: KUBELET_PORT,
        answers: opts.answers,
      }),
    );

    // nsenter execs node in place: the child's PID is the server's
    const proc = spawn('nsenter', [`--net=/run/netns/${netns}`, process.execPath, script, config], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | string>((resolve) =>
      proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
    );
    undo.push(async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const done = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 5000).unref())]);
      if (done === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    let listening: (() => void) | undefined;
    const answered = new Map<string, () => void>();
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let msg: { event?: string; key?: string } & Partial<KubeletRequest>;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.event === 'listening') listening?.();
      if (msg.event === 'answered' && msg.key) answered.get(msg.key)?.();
      if (msg.event === 'request') {
        const { event: _e, ...req } = msg;
        requests.push(req as KubeletRequest);
        for (const w of waiters) w();
      }
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new NetnsKubeletError(`server in ${netns} did not listen within ${timeoutMs} ms: ${stderr}`)),
        timeoutMs,
      );
      listening = () => {
        clearTimeout(timer);
        resolve();
      };
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new NetnsKubeletError(`server in ${netns} exited (${code}) before listening: ${stderr.trim()}`));
      });
    });

    return {
      netns,
      hostInterface,
      hostIp,
      ip: nodeIp,
      port: KUBELET_PORT,
      pid: proc.pid!,
      requests,
      stop,
      setAnswer(key, answer) {
        return new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new NetnsKubeletError(`server in ${netns} did not take the answer for ${key}`)),
            timeoutMs,
          );
          answered.set(key, () => {
            clearTimeout(timer);
            answered.delete(key);
            resolve();
          });
          proc.stdin.write(`${JSON.stringify({ key, answer })}\n`);
        });
      },
      nextRequest(match) {
        return new Promise((resolve, reject) => {
          const check = () => {
            const found = requests.find(match);
            if (!found) return false;
            clearTimeout(timer);
            waiters.delete(check);
            resolve(found);
            return true;
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            reject(
              new NetnsKubeletError(
                `no matching request reached the kubelet in ${netns} within ${timeoutMs} ms (got ${JSON.stringify(requests)})`,
              ),
            );
          }, timeoutMs);
          if (!check()) waiters.add(check);
        });
      },
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
