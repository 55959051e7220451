/** Free TCP ports on loopback for the control plane's servers. */
import { createServer, type Server } from 'node:net';

/**
 * `count` distinct free ports on `host`: all are bound at once (so they differ), read, then released. Another
 * process can take one before the server that needs it binds; the window is small.
 *
 * @example
 * ```ts
 * const [client, peer] = await freePorts(2);
 * ```
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen(0, host, () => {
            const addr = srv.address();
            resolve(typeof addr === 'object' && addr ? addr.port : 0);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
