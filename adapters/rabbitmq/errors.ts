/**
 * Typed RabbitMQ failures. Each names the broker (password masked), the queue or exchange, and what to do;
 * the AMQP reply code is kept in `details.replyCode` and the original error in `cause`. Errors are told apart by
 * AMQP reply codes and Node's network error codes, never by message text.
 */
import { ErrorCode, Ms2mError } from '../errors.ts';

/** The AMQP 0-9-1 reply codes the adapter acts on (the spec's constants; amqplib puts them on `err.code`). */
export const AmqpReplyCode = {
  CONNECTION_FORCED: 320,
  ACCESS_REFUSED: 403,
  NOT_FOUND: 404,
  PRECONDITION_FAILED: 406,
} as const;

/** AMQP class ids: which kind of object a channel close is about (`err.classId`). */
const AmqpClassId = { EXCHANGE: 40, QUEUE: 50 } as const;

/** Node's codes for a broker that cannot be reached at the network level. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * The AMQP reply code of an amqplib error: `err.code` for a channel or connection close. amqplib drops the code
 * of a close during the opening handshake (bad credentials: 403) and keeps it only in its own fixed message
 * format `Handshake terminated by server: <code> (<NAME>) ...`: the code is read from there.
 */
export function amqpReplyCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.message !== 'string' || !e.message.startsWith(HANDSHAKE_CLOSED)) return undefined;
  const code = Number.parseInt(e.message.slice(HANDSHAKE_CLOSED.length), 10);
  return Number.isInteger(code) ? code : undefined;
}
const HANDSHAKE_CLOSED = 'Handshake terminated by server: ';

/** True for a network-level failure (Node's `err.code`, or any of an AggregateError's errors). */
function isNetworkError(err: unknown): boolean {
  const e = err as { code?: unknown; errors?: unknown } | null;
  if (typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  return Array.isArray(e?.errors) && e.errors.some(isNetworkError);
}

/** `amqp://user:secret@host/vh` -> `amqp://user:***@host/vh`; never log a broker URL unmasked. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}

/** The broker refused or dropped the TCP connection, or did not answer in time. Transient. */
export class BrokerConnectRefusedError extends Ms2mError {
  constructor(url: string, cause?: unknown) {
    super(
      ErrorCode.BROKER_CONNECT_REFUSED,
      `RabbitMQ at ${maskUrl(url)} refused the connection or is unreachable; check messageQueueConfig.brokerUrl and that the broker runs`,
      {
        cause,
        transient: true,
        details: { broker: maskUrl(url) },
      },
    );
  }
}

/** Bad credentials or no permission on the vhost/object. Not transient: fix the URL or the user's permissions. */
export class BrokerAccessRefusedError extends Ms2mError {
  constructor(url: string, object: string | undefined, cause?: unknown) {
    super(
      ErrorCode.BROKER_ACCESS_REFUSED,
      `RabbitMQ at ${maskUrl(url)} refused access${object ? ` to ${object}` : ''}; check the credentials in brokerUrl/brokerSecretRef and the user's vhost permissions`,
      {
        cause,
        details: { broker: maskUrl(url), object, replyCode: AmqpReplyCode.ACCESS_REFUSED },
      },
    );
  }
}

/** The broker closed the channel or connection mid-operation (restart, resource alarm). Transient. */
export class BrokerChannelClosedError extends Ms2mError {
  constructor(url: string, operation: string, cause?: unknown) {
    super(
      ErrorCode.BROKER_CHANNEL_CLOSED,
      `RabbitMQ at ${maskUrl(url)} closed the channel during ${operation}; retrying after reconnect may help`,
      {
        cause,
        transient: true,
        details: { broker: maskUrl(url), operation, replyCode: amqpReplyCode(cause) },
      },
    );
  }
}

/** A queue or exchange the operation needs does not exist. */
export class BrokerNotFoundError extends Ms2mError {
  constructor(kind: 'Queue' | 'Exchange', name: string, url: string, cause?: unknown) {
    super(
      ErrorCode.NOT_FOUND,
      `${kind} ${name} not found on RabbitMQ at ${maskUrl(url)}; declare the topology first (ensureTopology / createReplayQueue)`,
      {
        cause,
        details: { kind, name, broker: maskUrl(url), replyCode: AmqpReplyCode.NOT_FOUND },
      },
    );
  }
}

/** An existing object was declared with other arguments (e.g. classic vs quorum). Not transient. */
export class BrokerPreconditionError extends Ms2mError {
  constructor(object: string, url: string, cause?: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      ErrorCode.BROKER_PRECONDITION_FAILED,
      `${object} on RabbitMQ at ${maskUrl(url)} exists with different arguments (${reason}); delete it or match queueType`,
      {
        cause,
        details: { object, broker: maskUrl(url), replyCode: AmqpReplyCode.PRECONDITION_FAILED },
      },
    );
  }
}

/**
 * Maps an amqplib error to the typed errors above, by its AMQP reply code (404, 403, 406) or Node network error
 * code; anything else (a channel or connection closed under the operation, 320 on a broker shutdown) is a
 * transient BrokerChannelClosedError. `object` names what the operation was about.
 */
export function toBrokerError(
  err: unknown,
  url: string,
  operation: string,
  object?: { kind: 'Queue' | 'Exchange'; name: string },
): Ms2mError {
  if (err instanceof Ms2mError) return err;
  const reply = amqpReplyCode(err);
  if (reply === AmqpReplyCode.NOT_FOUND) {
    const classId = (err as { classId?: unknown }).classId;
    const kind = object?.kind ?? (classId === AmqpClassId.EXCHANGE ? 'Exchange' : 'Queue');
    return new BrokerNotFoundError(kind, object?.name ?? `(${operation})`, url, err);
  }
  if (reply === AmqpReplyCode.ACCESS_REFUSED)
    return new BrokerAccessRefusedError(url, object && `${object.kind} ${object.name}`, err);
  if (reply === AmqpReplyCode.PRECONDITION_FAILED)
    return new BrokerPreconditionError(object ? `${object.kind} ${object.name}` : operation, url, err);
  if (reply === undefined && isNetworkError(err)) return new BrokerConnectRefusedError(url, err);
  return new BrokerChannelClosedError(url, operation, err);
}

/** True for the adapter's "queue or exchange not found" answer. */
export const isBrokerNotFound = (err: unknown): boolean => err instanceof Ms2mError && err.code === ErrorCode.NOT_FOUND;
