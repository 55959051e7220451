import { type ChildProcess, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import type { Server } from 'node:http';
import http from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pino } from 'pino';
import tar from 'tar-stream';
import { createAgentClient } from '../../adapters/agent-client/agent-client.ts';
import type { AgentClient } from '../../adapters/agent-client/port.ts';
import { ociRegistry } from '../../adapters/oci/registry.ts';
import { createAgent } from '../../agent/agent.ts';
import type { AgentLimits } from '../../agent/context.ts';
import { createImageLoader, type ImageLoader, type ImageLoaderOptions } from '../../agent/loader.ts';

export interface AgentNode {
  name: string;
  url: string;
  storeDir: string;
  checkpointsDir: string;
  stop(): Promise<void>;
}

export interface AgentPair {
  root: string;
  token: string;
  a: AgentNode;
  b: AgentNode;
  nodes: Map<string, AgentNode>;
  client: AgentClient;
  /** Starts one more in-process agent (e.g. with other limits). */
  add(name: string, limits?: Partial<AgentLimits>, opts?: AgentOptions): Promise<AgentNode>;
  stop(): Promise<void>;
}

export interface AgentOptions {
  /** Loader options beyond the store dir (e.g. a private containers-storage: `storageSpec: '[vfs@root+run]'`). */
  loader?: Omit<ImageLoaderOptions, 'storeDir'>;
  /** Wraps the loader (count or delay loads). */
  wrapLoader?: (l: ImageLoader) => ImageLoader;
  /** Log lines as parsed JSON objects (pino at debug level); silent when unset. */
  logs?: Record<string, unknown>[];
  /** Wall clock of the store (createdAt, lastUsedAt, GC). */
  clock?: { now(): number };
}

/** Starts one in-process agent on 127.0.0.1 (random port) with its own store and checkpoints dir under `root`. */
export async function startAgentInProcess(
  root: string,
  name: string,
  token: string,
  limits?: Partial<AgentLimits>,
  opts: AgentOptions = {},
): Promise<AgentNode> {
  const storeDir = join(root, name, 'store');
  const checkpointsDir = join(root, name, 'checkpoints');
  mkdirSync(checkpointsDir, { recursive: true });
  const logs = opts.logs;
  const logger = logs
    ? pino(
        { level: 'debug' },
        new Writable({
          write(chunk: Buffer, _e, cb) {
            for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
            cb();
          },
        }),
      )
    : pino({ level: 'silent' });
  const loader = createImageLoader({ storeDir, containersStorage: false, ...opts.loader });
  const server: Server = await createAgent({
    logger,
    storeDir,
    checkpointsDir,
    token,
    limits,
    registry: ociRegistry({ insecure: true }),
    loader: opts.wrapLoader ? opts.wrapLoader(loader) : loader,
    clock: opts.clock,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    name,
    url,
    storeDir,
    checkpointsDir,
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Two agents, "node-a" and "node-b", in this process on loopback, plus an AgentClient resolving node names to
 * them. Private dirs under one temp root, removed by `stop()`.
 *
 * @example
 * ```ts
 * const pair = await startAgentPair();
 * await pair.client.send({ sourceNode: 'node-a', targetNode: 'node-b', ... });
 * await pair.stop();
 * ```
 */
export async function startAgentPair(limits?: Partial<AgentLimits>): Promise<AgentPair> {
  const root = mkdtempSync(join(tmpdir(), 'ms2m-agents-'));
  const token = `t-${Math.random().toString(36).slice(2)}`;
  const nodes = new Map<string, AgentNode>();
  const add = async (name: string, l?: Partial<AgentLimits>, opts?: AgentOptions) => {
    const n = await startAgentInProcess(root, name, token, l ?? limits, opts);
    nodes.set(name, n);
    return n;
  };
  const a = await add('node-a');
  const b = await add('node-b');
  const client = createAgentClient({
    token,
    resolve: (node) => {
      const n = nodes.get(node);
      if (!n) throw new Error(`no agent for node ${node}`);
      return n.url;
    },
  });
  return {
    root,
    token,
    a,
    b,
    nodes,
    client,
    add,
    async stop() {
      for (const n of nodes.values()) await n.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface AgentProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** SIGKILL (a crash) or SIGTERM, and wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

let built: Promise<string> | undefined;

/**
 * Bundles `agent/main.ts` to plain JS (esbuild, packages external) as `dist/agent/main.mjs`, once per process:
 * agent processes then run on plain `node`, as in production, without the tsx loader's time and memory.
 * Written to a temp name and renamed, so parallel test workers never run a half-written file.
 */
export function buildAgent(): Promise<string> {
  built ??= (async () => {
    const repo = resolve(import.meta.dirname, '..', '..');
    const { build } = await import('esbuild');
    const out = join(repo, 'dist', 'agent', 'main.mjs');
    const r = await build({
      entryPoints: [join(repo, 'agent', 'main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      write: false,
      outfile: out,
      logLevel: 'error',
    });
    mkdirSync(dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, (r.outputFiles[0] as { contents: Uint8Array }).contents);
    renameSync(tmp, out);
    return out;
  })();
  return built;
}

/**
 * Starts the agent as a child process on plain node (the bundle from `buildAgent`) and waits for its
 * "Agent listening" line. `nodeArgs` adds node flags (e.g. `--cpu-prof`).
 */
export async function startAgentProcess(o: {
  storeDir: string;
  checkpointsDir: string;
  token: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
}): Promise<AgentProcess> {
  const repo = resolve(import.meta.dirname, '..', '..');
  const main = await buildAgent();
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), main], {
    cwd: repo,
    env: {
      ...process.env,
      MS2M_AGENT_TOKEN: o.token,
      MS2M_AGENT_STORE: o.storeDir,
      MS2M_AGENT_CHECKPOINTS: o.checkpointsDir,
      MS2M_AGENT_HOST: '127.0.0.1',
      MS2M_AGENT_PORT: '0',
      MS2M_AGENT_CONTAINERS_STORAGE: 'off',
      MS2M_AGENT_INSECURE_REGISTRY: '1',
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const port = await new Promise<number>((res, rej) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      for (const line of buf.split('\n')) {
        if (line.includes('"Agent listening"')) res((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => rej(new Error(`agent exited ${code}: ${err}`)));
  });
  child.stdout?.resume();
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    child,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

// ---- checkpoint tars for agent tests and benchmarks ----

/**
 * Pseudo-random bytes from a seed (AES-128-CTR keystream): the same seed gives the same bytes, so a failing test
 * reproduces with the same archives and digests.
 */
export function seededBytes(seed: string): (n: number) => Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (n) => c.update(Buffer.alloc(n));
}

/**
 * A checkpoint-like tar with one pages entry of `bytes` pseudo-random bytes, seeded by `seed` (default: the path
 * and size, so distinct files differ and every run writes the same bytes).
 */
export async function writeRandomTar(path: string, bytes: number, seed = `${path}:${bytes}`): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(path));
  const next = seededBytes(seed);
  pack.entry({ name: 'config.dump' }, '{"name":"app"}');
  const e = pack.entry({ name: 'checkpoint/pages-1.img', size: bytes });
  for (let left = bytes; left > 0; left -= 1 << 20) {
    if (!e.write(next(Math.min(1 << 20, left)))) await new Promise<void>((r) => e.once('drain', () => r()));
  }
  e.end(undefined as never);
  pack.finalize();
  await done;
}

/** A valid tar of `bytes` pages that is almost all holes: header written, the rest made by truncate. */
export async function writeSparseTar(path: string, bytes: number): Promise<void> {
  // the header is built synchronously (no waiting on a stream for it), then the file is extended with holes
  const h = rawTarEntry({ name: 'checkpoint/pages-1.img', size: bytes });
  await pipeline(async function* () {
    yield h;
  }, createWriteStream(path));
  await truncate(path, 512 + Math.ceil(bytes / 512) * 512 + 1024);
}

/** A small tar built from the given headers (hostile ones included). */
export async function tarOf(
  entries: { name: string; type?: string; linkname?: string; body?: string; size?: number }[],
): Promise<Buffer> {
  const p = tar.pack();
  for (const { body, ...h } of entries) p.entry(h as tar.Header, body ?? '');
  p.finalize();
  const bufs: Buffer[] = [];
  for await (const c of p) bufs.push(c as Buffer);
  return Buffer.concat(bufs);
}

export interface RawAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * PUT /v1/checkpoints by hand; `abortAfterBytes` destroys the request mid-body (a killed sender); `trailerSha256`
 * sends the body chunked with the digest as an HTTP trailer (as agents do), instead of a content-length.
 */
export function rawPut(
  base: string,
  o: {
    token?: string;
    headers?: Record<string, string>;
    body: Buffer;
    abortAfterBytes?: number;
    trailerSha256?: string;
  },
): Promise<RawAnswer | 'aborted'> {
  return new Promise((resolve, reject) => {
    const framing = o.trailerSha256
      ? { 'transfer-encoding': 'chunked', trailer: 'x-checkpoint-sha256' }
      : { 'content-length': String(o.body.length) };
    const req = http.request(
      new URL('/v1/checkpoints', base),
      {
        method: 'PUT',
        headers: {
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
          ...framing,
          ...o.headers,
        },
      },
      (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (c: string) => (b += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: b ? (JSON.parse(b) as Record<string, unknown>) : {} }),
        );
      },
    );
    req.on('error', (e) => (o.abortAfterBytes !== undefined ? resolve('aborted') : reject(e)));
    if (o.abortAfterBytes !== undefined) {
      req.write(o.body.subarray(0, o.abortAfterBytes), () =>
        setTimeout(() => {
          req.destroy();
          resolve('aborted');
        }, 100),
      );
    } else {
      if (o.trailerSha256) req.addTrailers({ 'x-checkpoint-sha256': o.trailerSha256 });
      req.end(o.body);
    }
  });
}

// ---- raw tar bytes (hostile archives: any typeflag, magic, prefix, pax and GNU extension headers) ----

export interface RawTarEntry {
  /** Name field (bytes 0..100); longer names need `prefix`, a pax `path` or a GNU `L` entry before. */
  name: string | Buffer;
  /** Typeflag byte as a character ('0' file, '5' dir, '2' symlink, 'x' pax, 'L' GNU long name, ...). */
  type?: string;
  linkname?: string | Buffer;
  body?: string | Buffer;
  /** Size field; default the body length. */
  size?: number;
  /** 'ustar' = POSIX `ustar\0` `00` (default), 'gnu' = `ustar  \0`, 'v7' = none. */
  magic?: 'ustar' | 'gnu' | 'v7';
  /** Raw bytes for the prefix area (345..500). */
  prefix?: string | Buffer;
  mode?: number;
  /** Replace a numeric field's raw bytes (e.g. `{ uid: Buffer.from('12x\0') }`). */
  fields?: Partial<Record<'mode' | 'uid' | 'gid' | 'size' | 'mtime' | 'devmajor' | 'devminor', Buffer>>;
  /** Store the checksum wrong by this much. */
  badChecksum?: number;
}

/** An octal field of `width` bytes, or GNU base-256 when the value does not fit (sizes of 8 GiB and more). */
const octal = (n: number, width: number): string | Buffer => {
  const text = n.toString(8);
  if (text.length < width) return `${text.padStart(width - 1, '0')}\0`;
  const b = Buffer.alloc(width);
  b[0] = 0x80;
  for (let i = width - 1, v = n; i > 0; i--, v = Math.floor(v / 256)) b[i] = v % 256;
  return b;
};

/** One 512-byte header plus the body padded to 512. */
export function rawTarEntry(e: RawTarEntry): Buffer {
  const h = Buffer.alloc(512);
  const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
  Buffer.from(e.name).copy(h, 0, 0, 100);
  const put = (field: keyof NonNullable<RawTarEntry['fields']>, off: number, len: number, v: number) =>
    (e.fields?.[field] ?? Buffer.from(octal(v, len))).copy(h, off, 0, len);
  put('mode', 100, 8, e.mode ?? (e.type === '5' ? 0o755 : 0o644));
  put('uid', 108, 8, 0);
  put('gid', 116, 8, 0);
  put('size', 124, 12, e.size ?? body.length);
  put('mtime', 136, 12, 1_700_000_000);
  h.write(e.type ?? '0', 156, 1, 'latin1');
  if (e.type === '\0') h[156] = 0;
  if (e.linkname !== undefined) Buffer.from(e.linkname).copy(h, 157, 0, 100);
  const magic = e.magic ?? 'ustar';
  if (magic === 'ustar') h.write('ustar\x0000', 257, 'latin1');
  if (magic === 'gnu') h.write('ustar  \x00', 257, 'latin1');
  if (magic !== 'v7') {
    put('devmajor', 329, 8, 0);
    put('devminor', 337, 8, 0);
  }
  if (e.prefix !== undefined) Buffer.from(e.prefix).copy(h, 345, 0, 155);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${(sum + (e.badChecksum ?? 0)).toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const pad = (512 - (body.length % 512)) % 512;
  return Buffer.concat([h, body, Buffer.alloc(pad)]);
}

/** pax extended header records (`<len> <key>=<value>\n`), exactly as POSIX writes them. */
export function paxRecords(records: Record<string, string> | [string, string][]): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of Array.isArray(records) ? records : Object.entries(records)) {
    const rest = Buffer.byteLength(` ${k}=${v}\n`);
    let len = rest + String(rest).length;
    if (String(len).length !== String(rest).length) len = rest + String(len).length;
    out.push(Buffer.from(`${len} ${k}=${v}\n`));
  }
  return Buffer.concat(out);
}

/** A whole archive: the entries, then two zero blocks (or `end` instead). */
export function rawTar(entries: RawTarEntry[], end: Buffer = Buffer.alloc(1024)): Buffer {
  return Buffer.concat([...entries.map(rawTarEntry), end]);
}

// ---- raw HTTP over a socket (clients under the test's full control: slow bodies, stalls, half-sent headers) ----

export interface RawSocket {
  /** Writes raw bytes; resolves once the kernel took them. Rejects when the agent closed the connection. */
  write(b: Buffer | string): Promise<void>;
  /** The agent's answer, or 'closed' when it closed the connection without a complete one. */
  answer: Promise<RawAnswer | 'closed'>;
  /** Resolves when the connection is closed (by either side). */
  closed: Promise<void>;
  readonly isClosed: boolean;
  destroy(): void;
}

/** Opens a TCP connection to the agent at `base` and writes `head` (request line and headers, maybe partial). */
export async function rawSocket(base: string, head: string): Promise<RawSocket> {
  const u = new URL(base);
  const sock = connect(Number(u.port), u.hostname);
  await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
  let buf = Buffer.alloc(0);
  let isClosed = false;
  sock.on('error', () => undefined);
  const closed = new Promise<void>((r) =>
    sock.once('close', () => {
      isClosed = true;
      r();
    }),
  );
  const answer = new Promise<RawAnswer | 'closed'>((resolve) => {
    const tryParse = () => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const headText = buf.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headText)?.[1] ?? 0);
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(headText)?.[1] ?? -1);
      if (len < 0 || buf.length < end + 4 + len) return false;
      const text = buf.subarray(end + 4, end + 4 + len).toString('utf8');
      resolve({ status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      return true;
    };
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      tryParse();
    });
    sock.once('close', () => {
      if (!tryParse()) resolve('closed');
    });
  });
  const w: RawSocket = {
    write: (b) =>
      new Promise<void>((res, rej) => {
        if (isClosed || sock.destroyed) return rej(new Error('socket closed'));
        sock.write(b, (err) => (err ? rej(err) : res()));
      }),
    answer,
    closed,
    get isClosed() {
      return isClosed;
    },
    destroy: () => sock.destroy(),
  };
  await w.write(head);
  return w;
}

/** Request line and headers of a PUT /v1/checkpoints (ends with the blank line: the body follows). */
export function putHead(o: { token?: string; headers?: Record<string, string>; contentLength?: number }): string {
  const h: Record<string, string> = {
    host: 'agent',
    ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
    ...(o.contentLength !== undefined
      ? { 'content-length': String(o.contentLength) }
      : { 'transfer-encoding': 'chunked' }),
    ...o.headers,
  };
  return `PUT /v1/checkpoints HTTP/1.1\r\n${Object.entries(h)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

/** GET /v1/healthz: transfers holding a slot right now. */
export async function runningTransfers(base: string, token: string): Promise<number> {
  const r = await fetch(`${base}/v1/healthz`, { headers: { authorization: `Bearer ${token}` } });
  return ((await r.json()) as { transfers: number }).transfers;
}

/** Polls `cond` every 20 ms until it holds; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
