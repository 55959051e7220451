/**
 * Typed errors of the migration-aware consumer library. Each has a stable `code` from {@link ConsumerErrorCode}
 * (match on it, never on message text), keeps the upstream error in `cause` and the AMQP reply code, when there
 * is one, in `replyCode`, and says what failed and what to do.
 *
 * @example
 * ```ts
 * consumer.on('failure', (err) => {
 *   if (err.code === ConsumerErrorCode.HANDLER_FAILED) metrics.handlerErrors.inc();
 * });
 * ```
 */

/** Every code the library uses. A code is part of the library's surface: add codes, never rename or reuse one. */
export const ConsumerErrorCode = {
  /** Options rejected by the constructor (empty queue name, prefetch < 1, ...). */
  INVALID_OPTIONS: 'MS2M_CONSUMER_INVALID_OPTIONS',
  /** No pod name from the downward-API file, the environment or the hostname. */
  IDENTITY_UNAVAILABLE: 'MS2M_CONSUMER_IDENTITY_UNAVAILABLE',
  /** Connecting or setting up the channel, queues and consumers failed; the consumer retries with backoff. */
  CONNECT_FAILED: 'MS2M_CONSUMER_CONNECT_FAILED',
  /** The connection or its channel closed under the consumer; it reconnects. */
  CONNECTION_LOST: 'MS2M_CONSUMER_CONNECTION_LOST',
  /** A message on the control queue is not one of the MS2M control messages; it is acknowledged and dropped. */
  INVALID_CONTROL_MESSAGE: 'MS2M_CONSUMER_INVALID_CONTROL_MESSAGE',
  /** A data message carries no sequence number; it is rejected without requeue. */
  INVALID_MESSAGE: 'MS2M_CONSUMER_INVALID_MESSAGE',
  /** The application's handler threw; the message is requeued after a pause. */
  HANDLER_FAILED: 'MS2M_CONSUMER_HANDLER_FAILED',
  /** The broker cancelled a consumer (its queue was deleted). */
  CONSUMER_CANCELLED: 'MS2M_CONSUMER_CANCELLED',
  /** The consumer was stopped before the operation could finish. */
  STOPPED: 'MS2M_CONSUMER_STOPPED',
} as const;

export type ConsumerErrorCode = (typeof ConsumerErrorCode)[keyof typeof ConsumerErrorCode];

/** The base of every error the library raises or reports. */
export class ConsumerError extends Error {
  override readonly name: string = 'ConsumerError';
  /** AMQP reply code of the upstream failure (e.g. 320 CONNECTION_FORCED, 404 NOT_FOUND), when known. */
  readonly replyCode: number | undefined;

  constructor(
    readonly code: ConsumerErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.replyCode = replyCodeOf(options.cause);
  }
}

export class InvalidOptionsError extends ConsumerError {
  override readonly name = 'InvalidOptionsError';
  constructor(option: string, problem: string) {
    super(ConsumerErrorCode.INVALID_OPTIONS, `Option ${option} ${problem}`);
  }
}

export class IdentityUnavailableError extends ConsumerError {
  override readonly name = 'IdentityUnavailableError';
  constructor(file: string, envName: string, cause?: unknown) {
    super(
      ConsumerErrorCode.IDENTITY_UNAVAILABLE,
      `No pod name: ${file} is missing or empty, ${envName} is unset and the hostname is empty; mount the downward API (metadata.name) at ${file}`,
      { cause },
    );
  }
}

export class ConnectFailedError extends ConsumerError {
  override readonly name = 'ConnectFailedError';
  constructor(broker: string, step: string, cause: unknown) {
    super(
      ConsumerErrorCode.CONNECT_FAILED,
      `Could not ${step} on RabbitMQ at ${broker}: ${messageOf(cause)}; retrying with backoff`,
      { cause },
    );
  }
}

export class ConnectionLostError extends ConsumerError {
  override readonly name = 'ConnectionLostError';
  constructor(broker: string, reason: string, cause?: unknown) {
    super(ConsumerErrorCode.CONNECTION_LOST, `Lost the connection to RabbitMQ at ${broker} (${reason}); reconnecting`, {
      cause,
    });
  }
}

export class InvalidControlMessageError extends ConsumerError {
  override readonly name = 'InvalidControlMessageError';
  constructor(queue: string, problem: string, cause?: unknown) {
    super(
      ConsumerErrorCode.INVALID_CONTROL_MESSAGE,
      `Dropped a message on control queue ${queue}: ${problem}; expected {"type":"START_REPLAY","payload":{"queue":...}}, END_REPLAY, STOP_CONSUMING or RESUME_CONSUMING`,
      { cause },
    );
  }
}

export class InvalidMessageError extends ConsumerError {
  override readonly name = 'InvalidMessageError';
  constructor(queue: string, problem: string, cause?: unknown) {
    super(
      ConsumerErrorCode.INVALID_MESSAGE,
      `Rejected a message on queue ${queue}: ${problem}; a message needs a sequence number (JSON {"seq":n} or a bare integer)`,
      { cause },
    );
  }
}

export class HandlerFailedError extends ConsumerError {
  override readonly name = 'HandlerFailedError';
  constructor(
    readonly seq: number,
    queue: string,
    cause: unknown,
  ) {
    super(
      ConsumerErrorCode.HANDLER_FAILED,
      `The handler failed on message ${seq} from queue ${queue}: ${messageOf(cause)}; the message is requeued`,
      { cause },
    );
  }
}

export class ConsumerCancelledError extends ConsumerError {
  override readonly name = 'ConsumerCancelledError';
  constructor(queue: string) {
    super(ConsumerErrorCode.CONSUMER_CANCELLED, `RabbitMQ cancelled the consumer of queue ${queue} (queue deleted)`);
  }
}

export class ConsumerStoppedError extends ConsumerError {
  override readonly name = 'ConsumerStoppedError';
  constructor(operation: string) {
    super(ConsumerErrorCode.STOPPED, `The consumer was stopped before ${operation} finished`);
  }
}

function replyCodeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
