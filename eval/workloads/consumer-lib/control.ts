/**
 * The MS2M control protocol as the operator speaks it (adapters/rabbitmq/port.ts): JSON messages on the durable
 * queue `ms2m.control.<pod>`, and what each one does to the consumer's mode.
 *
 * | message | sent by the operator | mode after |
 * |---|---|---|
 * | `{"type":"START_REPLAY","payload":{"queue":"<q>.ms2m-replay"}}` | Replaying, to the restored target | `replay` (consume the replay queue) |
 * | `{"type":"END_REPLAY"}` | Finalizing, to the target | `primary` |
 * | `{"type":"STOP_CONSUMING"}` | Cutoff (ShadowPod), to the source | `stopped` (control queue only) |
 * | `{"type":"RESUME_CONSUMING"}` | compensation, to the source | `primary` |
 *
 * A consumer that was restored into another pod waits for START_REPLAY in mode `awaiting-replay`.
 */
import type { ControlMessage } from '../../../adapters/rabbitmq/port.ts';

export type { ControlMessage };
export type ControlType = ControlMessage['type'];

/** Every control type, checked against the operator's union both ways at compile time. */
const CONTROL_TYPES = {
  START_REPLAY: true,
  END_REPLAY: true,
  STOP_CONSUMING: true,
  RESUME_CONSUMING: true,
} as const satisfies Record<ControlType, true>;

const isControlType = (t: unknown): t is ControlType => typeof t === 'string' && Object.hasOwn(CONTROL_TYPES, t);

/**
 * Parses a control message body. Throws an Error saying what is wrong (the caller names the queue).
 *
 * @example
 * ```ts
 * parseControlMessage(Buffer.from('{"type":"START_REPLAY","payload":{"queue":"orders.ms2m-replay"}}'));
 * // { type: 'START_REPLAY', payload: { queue: 'orders.ms2m-replay' } }
 * ```
 */
export function parseControlMessage(body: Buffer): ControlMessage {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new Error('the body is not JSON', { cause: err });
  }
  const type = (value as { type?: unknown } | null)?.type;
  if (!isControlType(type)) throw new Error(`unknown type ${JSON.stringify(type)}`);
  if (type !== 'START_REPLAY') return { type };
  const queue = (value as { payload?: { queue?: unknown } }).payload?.queue;
  if (typeof queue !== 'string' || queue.length === 0) throw new Error('START_REPLAY without payload.queue');
  return { type, payload: { queue } };
}

/** What the consumer consumes besides its control queue. */
export type ConsumerMode =
  /** the primary queue (normal operation) */
  | { kind: 'primary' }
  /** a replay queue, after START_REPLAY */
  | { kind: 'replay'; queue: string }
  /** nothing, after STOP_CONSUMING */
  | { kind: 'stopped' }
  /** nothing until START_REPLAY: a restored consumer (new pod, or MS2M_RESTORE_MODE=true) */
  | { kind: 'awaiting-replay' };

export const PRIMARY: ConsumerMode = { kind: 'primary' };

/**
 * The mode after a control message. Total and idempotent: the same message twice gives the same mode, so a
 * redelivered control message (after a reconnect) changes nothing.
 *
 * @example
 * ```ts
 * nextMode({ kind: 'awaiting-replay' }, { type: 'START_REPLAY', payload: { queue: 'orders.ms2m-replay' } });
 * // { kind: 'replay', queue: 'orders.ms2m-replay' }
 * ```
 */
export function nextMode(_mode: ConsumerMode, message: ControlMessage): ConsumerMode {
  switch (message.type) {
    case 'START_REPLAY':
      return { kind: 'replay', queue: message.payload.queue };
    case 'END_REPLAY':
    case 'RESUME_CONSUMING':
      return PRIMARY;
    case 'STOP_CONSUMING':
      return { kind: 'stopped' };
  }
}

export const sameMode = (a: ConsumerMode, b: ConsumerMode): boolean =>
  a.kind === b.kind && (a.kind !== 'replay' || a.queue === (b as { queue: string }).queue);

/** The data queue a mode consumes (`null` for none). */
export const dataQueueOf = (mode: ConsumerMode, primaryQueue: string): string | null =>
  mode.kind === 'primary' ? primaryQueue : mode.kind === 'replay' ? mode.queue : null;
