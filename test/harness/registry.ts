import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RegistryHarness {
  /** `127.0.0.1:<port>` */
  host: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts Debian's `docker-registry serve <config>` on 127.0.0.1 (random port, private storage dir), waits until
 * `/v2/` answers, and stops it by its own PID.
 *
 * @example
 * ```ts
 * const reg = await startRegistry();
 * // push to `${reg.host}/ckpt/app:checkpoint` with { insecure: true }
 * await reg.stop();
 * ```
 */
export async function startRegistry(): Promise<RegistryHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'ms2m-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr}`);
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (i > 200) throw new Error(`docker-registry not ready on ${host}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    dir,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode === null) {
        process.kill(child.pid as number, 'SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
