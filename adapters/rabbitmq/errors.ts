/**
 * Typed RabbitMQ failures. Each names the broker (password masked), the queue or exchange, and what to do;
 * the AMQP reply code is kept in `details.replyCode` and the original error in `cause`.
 */
import { Ms2mError } from '../errors.ts';

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
      'BROKER_CONNECT_REFUSED',
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
      'BROKER_ACCESS_REFUSED',
      `RabbitMQ at ${maskUrl(url)} refused access${object ? ` to ${object}` : ''}; check the credentials in brokerUrl/brokerSecretRef and the user's vhost permissions`,
      {
        cause,
        details: { broker: maskUrl(url), object, replyCode: 403 },
      },
    );
  }
}

/** The broker closed the channel or connection mid-operation (restart, resource alarm). Transient. */
export class BrokerChannelClosedError extends Ms2mError {
  constructor(url: string, operation: string, cause?: unknown) {
    super(
      'BROKER_CHANNEL_CLOSED',
      `RabbitMQ at ${maskUrl(url)} closed the channel during ${operation}; retrying after reconnect may help`,
      {
        cause,
        transient: true,
        details: { broker: maskUrl(url), operation },
      },
    );
  }
}

/** A queue or exchange the operation needs does not exist. */
export class BrokerNotFoundError extends Ms2mError {
  constructor(kind: 'Queue' | 'Exchange', name: string, url: string, cause?: unknown) {
    super(
      'NOT_FOUND',
      `${kind} ${name} not found on RabbitMQ at ${maskUrl(url)}; declare the topology first (ensureTopology / createReplayQueue)`,
      {
        cause,
        details: { kind, name, broker: maskUrl(url), replyCode: 404 },
      },
    );
  }
}

/** An existing object was declared with other arguments (e.g. classic vs quorum). Not transient. */
export class BrokerPreconditionError extends Ms2mError {
  constructor(object: string, url: string, cause?: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      'BROKER_PRECONDITION_FAILED',
      `${object} on RabbitMQ at ${maskUrl(url)} exists with different arguments (${reason}); delete it or match queueType`,
      {
        cause,
        details: { object, broker: maskUrl(url), replyCode: 406 },
      },
    );
  }
}

/** Maps an amqplib error (reply code on `.code`) to the typed errors above. */
export function toBrokerError(
  err: unknown,
  url: string,
  operation: string,
  object?: { kind: 'Queue' | 'Exchange'; name: string },
): Ms2mError {
  if (err instanceof Ms2mError) return err;
  const e = err as { code?: number | string; message?: string };
  const msg = e?.message ?? String(err);
  if (e?.code === 404 || /NOT_FOUND/.test(msg))
    return new BrokerNotFoundError(object?.kind ?? notFoundKind(msg), object?.name ?? notFoundName(msg), url, err);
  if (e?.code === 403 || /ACCESS_REFUSED|ACCESS-REFUSED/i.test(msg))
    return new BrokerAccessRefusedError(url, object && `${object.kind} ${object.name}`, err);
  if (e?.code === 406 || /PRECONDITION_FAILED/.test(msg))
    return new BrokerPreconditionError(object ? `${object.kind} ${object.name}` : operation, url, err);
  if (
    e?.code === 'ECONNREFUSED' ||
    e?.code === 'ECONNRESET' ||
    e?.code === 'ETIMEDOUT' ||
    /ECONNREFUSED|timed out/i.test(msg)
  )
    return new BrokerConnectRefusedError(url, err);
  return new BrokerChannelClosedError(url, operation, err);
}

const notFoundKind = (msg: string): 'Queue' | 'Exchange' => (/exchange/i.test(msg) ? 'Exchange' : 'Queue');
const notFoundName = (msg: string): string => /'([^']+)'/.exec(msg)?.[1] ?? 'unknown';
