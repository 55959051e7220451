/**
 * Runs the workloads as local processes (no cluster): from source through tsx, or from their bundles. For
 * runs on one machine and the tests against a real broker. The process listens on a port the kernel picks
 * (`--http-port 0`); the port is read from its first log line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type WorkloadKind = 'producer' | 'consumer';

export interface WorkloadProcessOptions {
  kind: WorkloadKind;
  /** Flags (see producer.ts / consumer.ts); `--http-port 0` is added unless given. */
  args?: string[];
  /** Extra environment on top of this process's (LOG_LEVEL defaults to info). */
  env?: Record<string, string>;
  /** A bundle (`/app/consumer.mjs`) to run with `node` instead of the TypeScript source through tsx. */
  bundle?: string;
  /** How long to wait for the HTTP server (ms, default 20000). */
  readyTimeoutMs?: number;
}

export interface WorkloadExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkloadProcess {
  readonly pid: number;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly exited: Promise<WorkloadExit>;
  /** The last 64 KiB of stdout and stderr. */
  output(): string;
  /** GET /state, parsed. */
  state<T>(): Promise<T>;
  /** GET a path: status and parsed JSON body. */
  get<T>(path: string): Promise<{ status: number; body: T }>;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with how it ended. */
  stop(timeoutMs?: number): Promise<WorkloadExit>;
}

const SOURCES: Record<WorkloadKind, string> = {
  producer: fileURLToPath(new URL('./producer.ts', import.meta.url)),
  consumer: fileURLToPath(new URL('./consumer.ts', import.meta.url)),
};

/**
 * @example
 * ```ts
 * const consumer = await startWorkloadProcess({ kind: 'consumer', args: ['--url', url, '--delay-ms', '10'] });
 * const state = await consumer.state<ConsumerState>();
 * await consumer.stop();
 * ```
 */
export async function startWorkloadProcess(o: WorkloadProcessOptions): Promise<WorkloadProcess> {
  const args = [...(o.args ?? [])];
  if (!args.includes('--http-port')) args.push('--http-port', '0');
  const argv = o.bundle ? [o.bundle, ...args] : ['--import', 'tsx', SOURCES[o.kind], ...args];
  const child: ChildProcess = spawn(process.execPath, argv, {
    env: { ...process.env, LOG_LEVEL: 'info', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<WorkloadExit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const port = await readPort(child, () => out, exited, o.readyTimeoutMs ?? 20_000).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${o.kind} did not start: ${err.message}\n${out}`);
  });
  const url = `http://127.0.0.1:${port}`;
  const get = async <T>(path: string) => {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: (await res.json()) as T };
  };
  return {
    pid: child.pid as number,
    port,
    url,
    exited,
    output: () => out,
    get,
    async state<T>() {
      const r = await get<T>('/state');
      if (r.status !== 200) throw new Error(`GET /state answered ${r.status}`);
      return r.body;
    },
    signal: (sig) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGCONT'); // a stopped process cannot handle SIGTERM
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

/** The port from the `Serving /state ...` log line (`{"port":N,...}`). */
async function readPort(
  child: ChildProcess,
  output: () => string,
  exited: Promise<WorkloadExit>,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let dead: WorkloadExit | undefined;
  void exited.then((e) => {
    dead = e;
  });
  for (;;) {
    for (const line of output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg?.startsWith('Serving /state') && typeof entry.port === 'number') return entry.port;
      } catch {}
    }
    if (dead) throw new Error(`exited with ${dead.code ?? dead.signal}`);
    if (Date.now() > deadline) throw new Error(`no HTTP port within ${timeoutMs} ms (pid ${child.pid})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
