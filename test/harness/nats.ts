/**
 * Test harness: a real `nats-server -js` on 127.0.0.1, random free port, private JetStream store dir. Start it
 * once per test file; `restart()` keeps port and store (fault tests), `kill()` stops it like a crash.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (bind to 0, read it, release it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, isDead: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (isDead()) throw new Error(`process meant to listen on 127.0.0.1:${port} exited`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1');
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for a child to exit (resolves at once when it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** SIGKILL: the server dies without flushing, like a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same store. */
  start(): Promise<void>;
  /** Stops it and removes its private dirs. */
  stop(): Promise<void>;
}

/**
 * Starts nats-server with JetStream on a random loopback port.
 *
 * @example
 * ```ts
 * const nats = await startNats();
 * const log = await openJetStreamLog({ servers: nats.url, logger });
 * await nats.stop();
 * ```
 */
export async function startNats(): Promise<NatsServer> {
  const base = await mkdtemp(join(tmpdir(), 'ms2m-nats-'));
  const storeDir = join(base, 'js');
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const proc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child = proc;
    try {
      await waitForPort(port, 15_000, () => proc.exitCode !== null);
    } catch (err) {
      proc.kill('SIGKILL');
      throw new Error(`nats-server did not start: ${(err as Error).message}\n${stderr}`);
    }
  };
  const kill = async (): Promise<void> => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await exited(c);
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    kill,
    start,
    async stop() {
      if (child) {
        const c = child;
        child = undefined;
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
        await exited(c);
        clearTimeout(timer);
      }
      await rm(base, { recursive: true, force: true });
    },
  };
}
