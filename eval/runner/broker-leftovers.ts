/**
 * The RabbitMQ side of an evaluation run, through the management HTTP API: every durable queue and exchange a
 * run makes (its queue `q-<runId>`, the replay queue `q-<runId>.ms2m-replay`, the control queues
 * `ms2m.control.consumer-<runId>…` of its consumer pods and their shadows, its exchange `x-<runId>`). Before a
 * run they are deleted so it starts from empty queues (a killed attempt leaves messages behind); after a run,
 * so the broker does not fill up over hundreds of runs.
 */
import { UnavailableError } from '../../adapters/errors.ts';

export interface ManagementApi {
  /** `http://host:15672` (credentials in the URL, else guest:guest). */
  url: string;
}

interface Named {
  name: string;
}

function endpoint(api: ManagementApi): { base: string; auth: string } {
  const u = new URL(api.url);
  const user = decodeURIComponent(u.username) || 'guest';
  const pass = decodeURIComponent(u.password) || 'guest';
  u.username = '';
  u.password = '';
  return {
    base: u.toString().replace(/\/$/, ''),
    auth: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
  };
}

async function call(api: ManagementApi, method: 'GET' | 'DELETE', path: string): Promise<Response> {
  const { base, auth } = endpoint(api);
  try {
    return await fetch(`${base}${path}`, {
      method,
      headers: { authorization: auth },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new UnavailableError(
      `RabbitMQ management API at ${base}`,
      `${method} ${path} failed (${(err as Error).message}); check --rabbitmq-management`,
      err,
    );
  }
}

async function names(api: ManagementApi, what: 'queues' | 'exchanges'): Promise<string[]> {
  const res = await call(api, 'GET', `/api/${what}/%2F?columns=name`);
  if (!res.ok) {
    throw new UnavailableError('RabbitMQ management API', `listing ${what} answered ${res.status} ${res.statusText}`);
  }
  return ((await res.json()) as Named[]).map((q) => q.name);
}

/** True when `name` is `prefix` itself or `prefix` followed by `-` or `.` (so run `…-1` never matches `…-10`). */
const startsAsWord = (name: string, prefix: string) =>
  name === prefix || ((name[prefix.length] === '-' || name[prefix.length] === '.') && name.startsWith(prefix));

/** Whether a queue or exchange belongs to run `runId`. */
export function belongsToRun(name: string, runId: string): boolean {
  return (
    startsAsWord(name, `q-${runId}`) ||
    startsAsWord(name, `x-${runId}`) ||
    startsAsWord(name, `ms2m.control.consumer-${runId}`)
  );
}

/**
 * The run ids of eval `evalTag` that still have queues or exchanges (`<evalTag>-<code>-<rate>-<repetition>`).
 *
 * @example
 * ```ts
 * await runIdsWithBrokerLeftovers({ url: 'http://10.0.0.1:15672' }, 'e3f9a1c'); // ['e3f9a1c-pd-4-1']
 * ```
 */
export async function runIdsWithBrokerLeftovers(api: ManagementApi, evalTag: string): Promise<string[]> {
  const pattern = new RegExp(
    `^(?:q-|x-|ms2m\\.control\\.consumer-)(${evalTag}-[a-z]{2}-[0-9p]+-[0-9]+)(?:[-.].*)?$`,
    'u',
  );
  const all = [...(await names(api, 'queues')), ...(await names(api, 'exchanges'))];
  return [...new Set(all.map((n) => pattern.exec(n)?.[1]).filter((x): x is string => x !== undefined))];
}

/** Deletes every queue and exchange of run `runId` (missing ones are fine); returns their names. */
export async function deleteRunQueues(api: ManagementApi, runId: string): Promise<string[]> {
  const deleted: string[] = [];
  for (const what of ['queues', 'exchanges'] as const) {
    for (const name of (await names(api, what)).filter((n) => belongsToRun(n, runId))) {
      const res = await call(api, 'DELETE', `/api/${what}/%2F/${encodeURIComponent(name)}`);
      if (!res.ok && res.status !== 404) {
        throw new UnavailableError('RabbitMQ management API', `deleting ${what} ${name} answered ${res.status}`);
      }
      deleted.push(name);
    }
  }
  return deleted;
}
