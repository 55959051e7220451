/**
 * Readiness probes of the control plane: an HTTPS GET with the cluster CA and a client certificate, and a
 * polling wait that always has a deadline and gives up early when a watched process has exited.
 */
import { request } from 'node:https';

/** TLS material for a probe: PEM strings. */
export interface ProbeTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Status and body of a GET (`status` 0 when the connection failed; `body` then holds the error). */
export interface ProbeResult {
  readonly status: number;
  readonly body: string;
}

/** One HTTPS GET, 3 s timeout; never rejects. */
export function probe(url: string, tls: ProbeTls): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', ...tls, agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ status: 0, body: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 3 s')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}

/** A wait that did not succeed before its deadline, or whose process exited. */
export class NotReadyError extends Error {
  readonly code = 'CONTROL_PLANE_NOT_READY';
  constructor(message: string) {
    super(message);
    this.name = 'NotReadyError';
  }
}

/**
 * Polls `check` every `intervalMs` until it returns true. Rejects with the last observation when `timeoutMs`
 * passes, or at once when `dead()` names an exited process.
 *
 * @example
 * ```ts
 * await waitUntil('kube-apiserver /readyz', 60_000, async () => (await probe(url, tls)).status === 200);
 * ```
 */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean | string>,
  dead: () => string | null = () => null,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const gone = dead();
    if (gone) throw new NotReadyError(`${what}: ${gone}`);
    const ok = await check();
    if (ok === true) return;
    if (typeof ok === 'string') last = ok;
    if (Date.now() > deadline) {
      throw new NotReadyError(`${what}: not ready after ${timeoutMs / 1000} s${last ? ` (last: ${last})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
