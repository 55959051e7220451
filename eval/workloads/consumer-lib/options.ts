/**
 * The consumer's options, the message its handler gets, its events and counters.
 */
import type { MessageProperties } from 'amqplib';
import { maskUrl } from '../../../adapters/rabbitmq/errors.ts';
import type { ConsumerMode, ControlMessage, ControlType } from './control.ts';
import { type ConsumerError, InvalidOptionsError } from './errors.ts';
import type { IdentityOptions, PodIdentity } from './identity.ts';
import type { ConsumerLogger } from './logger.ts';
import type { SequenceReader, SequenceSet } from './sequence.ts';
import type { QueueType } from './topology.ts';

/** The environment variable the operator sets on a restored target pod (API.md). */
export const RESTORE_MODE_ENV = 'MS2M_RESTORE_MODE';

export interface MigratableConsumerOptions {
  /** AMQP URL, e.g. `amqp://guest:guest@rabbitmq:5672`. */
  url: string;
  /** The primary queue (the StatefulMigration's `messageQueueConfig.queueName`). */
  queue: string;
  /** Durable fanout exchange to declare and bind the primary queue to (`exchangeName`); none when absent. */
  exchange?: string;
  routingKey?: string;
  /** Type of the primary queue as the operator declares it (`classic` unless the migration says `quorum`). */
  queueType?: QueueType;
  /** Processes one message. Called one message at a time, never twice for the same sequence number. */
  handler: MessageHandler;
  /** Unacknowledged messages the broker may send ahead (per consumer). Default 10. */
  prefetch?: number;
  /** Where the pod name (and UID) are read on every (re)connect. */
  identity?: IdentityOptions;
  /**
   * Mode at start: `primary`, or `awaiting-replay` (consume nothing until START_REPLAY). Default:
   * `awaiting-replay` when `MS2M_RESTORE_MODE=true` in `env`, else `primary`.
   */
  initialMode?: 'primary' | 'awaiting-replay';
  /** Environment read for `MS2M_RESTORE_MODE` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Reads a message's sequence number (default: JSON `{"seq":n}` or a bare integer). */
  sequenceOf?: SequenceReader;
  /** Dedup state to start from (default: empty, counting from 1). */
  processed?: SequenceSet;
  /** AMQP heartbeat (s) unless the URL sets one. Default 5: a dead socket is noticed within ~10 s at worst. */
  heartbeatSeconds?: number;
  /** TCP connect timeout (ms). Default 5000. */
  connectTimeoutMs?: number;
  /** Reconnect backoff (ms): first delay and cap. Default 100 and 5000. */
  reconnectDelayMs?: { initial?: number; max?: number };
  /** How often the identity is re-read while connected (ms); a change reconnects at once. 0 = only on reconnect. Default 1000. */
  identityPollMs?: number;
  /** Treat a new pod identity as a restore (wait for START_REPLAY while a replay queue exists). Default true. */
  restoreOnIdentityChange?: boolean;
  /** Pause before a message whose handler failed is requeued (ms). Default 1000. */
  handlerRetryDelayMs?: number;
  /** How long `stop()` waits for messages already delivered to be processed (ms). Default 10000. */
  stopTimeoutMs?: number;
  logger?: ConsumerLogger;
}

export interface ConsumedMessage {
  seq: number;
  content: Buffer;
  /** The queue it came from: the primary queue or the replay queue. */
  queue: string;
  /** The broker delivered it before (to this consumer or to the one it was restored from). */
  redelivered: boolean;
  properties: MessageProperties;
}

export type MessageHandler = (message: ConsumedMessage) => void | Promise<void>;

/** Why the mode changed. */
export type ModeCause =
  | ControlType
  /** the identity changed between two connections */
  | 'restored'
  /** on a (re)connect, the replay queue to wait for or to replay does not exist */
  | 'replay-queue-missing'
  /** the broker cancelled the replay consumer: its queue was deleted */
  | 'replay-queue-deleted';

export interface ConsumerStats {
  /** Messages handled (each sequence number once). */
  processed: number;
  /** Messages skipped because their sequence number was processed already. */
  duplicates: number;
  /** Messages rejected for having no sequence number. */
  invalid: number;
  handlerFailures: number;
  /** Control messages applied (repeated message ids not counted). */
  controlMessages: number;
  /** Successful connections, the first included. */
  connects: number;
}

export interface ConsumerEvents {
  connected: [info: { identity: PodIdentity; controlQueue: string; mode: ConsumerMode; connects: number }];
  disconnected: [info: { reason: string; forced: boolean }];
  /** The identity changed between two connections: the process now runs in another pod. */
  restored: [info: { from: PodIdentity; to: PodIdentity }];
  mode: [info: { from: ConsumerMode; to: ConsumerMode; cause: ModeCause }];
  control: [info: { message: ControlMessage; messageId?: string; repeated: boolean }];
  processed: [info: { seq: number; queue: string }];
  duplicate: [info: { seq: number; queue: string }];
  /** A problem the consumer handles itself (it never emits `error`, so no listener is required). */
  failure: [error: ConsumerError];
}

/** Throws {@link InvalidOptionsError} naming the first bad option. */
export function validateOptions(opts: MigratableConsumerOptions): void {
  if (!opts.url) throw new InvalidOptionsError('url', 'must be an AMQP URL');
  try {
    new URL(opts.url);
  } catch {
    throw new InvalidOptionsError('url', `is not a URL: ${maskUrl(opts.url)}`);
  }
  if (!opts.queue) throw new InvalidOptionsError('queue', 'must name the primary queue');
  if (typeof opts.handler !== 'function') throw new InvalidOptionsError('handler', 'must be a function');
  const positive = (name: string, v: number | undefined, min: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min))
      throw new InvalidOptionsError(name, `must be an integer >= ${min} (got ${v})`);
  };
  positive('prefetch', opts.prefetch, 1);
  positive('heartbeatSeconds', opts.heartbeatSeconds, 0);
  positive('connectTimeoutMs', opts.connectTimeoutMs, 1);
  positive('identityPollMs', opts.identityPollMs, 0);
  positive('handlerRetryDelayMs', opts.handlerRetryDelayMs, 0);
  positive('stopTimeoutMs', opts.stopTimeoutMs, 0);
}
