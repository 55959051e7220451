/**
 * Reads queue statistics from the RabbitMQ management API: ready + unacknowledged counts and rates.
 */
import { UnavailableError } from '../errors.ts';
import { BrokerAccessRefusedError, maskUrl } from './errors.ts';
import { type ManagementQueue, managementQueueSchema } from './management.wire.ts';

export interface QueueSample {
  ready: number;
  unacked: number;
  consumerRate: number | undefined;
  producerRate: number | undefined;
  /** When the HTTP answer arrived (local clock, ms). */
  takenAt: number;
}

/** `http(s)://host:15672` for a broker URL (same host, management port), unless overridden. */
export function defaultManagementUrl(brokerUrl: string): string {
  const u = new URL(brokerUrl);
  return `${u.protocol === 'amqps:' ? 'https' : 'http'}://${u.hostname}:15672`;
}

/** The vhost of a broker URL (`/` when the path is empty). */
export function vhostOf(brokerUrl: string): string {
  const path = new URL(brokerUrl).pathname;
  return path.length > 1 ? decodeURIComponent(path.slice(1)) : '/';
}

/**
 * Fetches one queue's statistics; null when the queue does not exist (HTTP 404).
 *
 * @example
 * ```ts
 * const s = await fetchQueueSample('http://127.0.0.1:15672', 'amqp://guest:guest@127.0.0.1', 'orders.ms2m-replay');
 * ```
 */
export async function fetchQueueSample(
  managementUrl: string,
  brokerUrl: string,
  queue: string,
): Promise<QueueSample | null> {
  const u = new URL(brokerUrl);
  const user = decodeURIComponent(u.username || 'guest');
  const pass = decodeURIComponent(u.password || 'guest');
  const url = `${managementUrl.replace(/\/$/, '')}/api/queues/${encodeURIComponent(vhostOf(brokerUrl))}/${encodeURIComponent(queue)}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` },
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    throw new UnavailableError(`RabbitMQ management API ${maskUrl(managementUrl)}`, (err as Error).message, err);
  }
  if (res.status === 404) return null;
  if (res.status === 401 || res.status === 403)
    throw new BrokerAccessRefusedError(managementUrl, `management API queue ${queue}`);
  if (!res.ok)
    throw new UnavailableError(
      `RabbitMQ management API ${maskUrl(managementUrl)}`,
      `HTTP ${res.status} for queue ${queue}`,
    );
  const q: ManagementQueue = managementQueueSchema.parse(await res.json());
  const stats = q.message_stats;
  return {
    ready: q.messages_ready ?? 0,
    unacked: q.messages_unacknowledged ?? 0,
    consumerRate: stats?.ack_details?.rate ?? stats?.deliver_get_details?.rate,
    producerRate: stats?.publish_details?.rate,
    takenAt: Date.now(),
  };
}
