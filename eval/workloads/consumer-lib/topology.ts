/**
 * The broker objects a consumer touches, declared exactly as the operator's broker adapter declares them
 * (adapters/rabbitmq/connection.ts): a declaration with other arguments than the existing object's closes the
 * channel with 406 PRECONDITION_FAILED, so the arguments must match to the letter.
 */
import type { Channel, Options } from 'amqplib';
import { controlQueueName, replayQueueName } from '../../../adapters/rabbitmq/port.ts';

export { controlQueueName, replayQueueName };

export type QueueType = 'classic' | 'quorum';

/** Durable queue with an explicit `x-queue-type`, as the operator declares its queues. */
export const queueOptions = (queueType: QueueType): Options.AssertQueue => ({
  durable: true,
  arguments: { 'x-queue-type': queueType },
});

/** The control queue is always classic (the operator's `sendControl` declares it so). */
export const CONTROL_QUEUE_TYPE: QueueType = 'classic';

export interface PrimaryTopology {
  queue: string;
  /** Durable fanout exchange the queue is bound to; when absent, only the queue is declared. */
  exchange?: string;
  routingKey?: string;
  queueType?: QueueType;
}

/**
 * Declares the durable fanout exchange, the primary queue and its binding (the operator's `ensureTopology`).
 * Idempotent.
 *
 * @example
 * ```ts
 * await declarePrimaryTopology(channel, { exchange: 'orders-fanout', queue: 'orders' });
 * ```
 */
export async function declarePrimaryTopology(ch: Channel, t: PrimaryTopology): Promise<void> {
  if (t.exchange !== undefined) await ch.assertExchange(t.exchange, 'fanout', { durable: true });
  await ch.assertQueue(t.queue, queueOptions(t.queueType ?? 'classic'));
  if (t.exchange !== undefined) await ch.bindQueue(t.queue, t.exchange, t.routingKey ?? '');
}

/**
 * `url` with `heartbeat=<seconds>` unless it sets one already. A short heartbeat is how a process restored with
 * its TCP connection closed (CRIU `tcp-close`) notices at once even when it has nothing to send.
 */
export function withHeartbeat(url: string, seconds: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(seconds));
  return u.toString();
}

/** Exponential backoff with jitter: attempt 1 -> ~initial, doubling up to max. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
