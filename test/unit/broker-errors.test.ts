import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../adapters/errors.ts';
import { amqpReplyCode, toBrokerError } from '../../adapters/rabbitmq/errors.ts';

const url = 'amqp://app:s3cret@10.0.0.5:5672/orders';
/** An amqplib channel-close error: the reply code on `.code`, the AMQP class on `.classId`. */
const closed = (code: number, classId: number, message = 'text the broker chose') =>
  Object.assign(new Error(`Channel closed by server: ${code} (SOME-NAME) with message "${message}"`), {
    code,
    classId,
    methodId: 10,
  });

describe('RabbitMQ errors are told apart by AMQP reply codes and network codes, not message text', () => {
  it.each([
    [closed(404, 50), ErrorCode.NOT_FOUND, false],
    [closed(403, 10), ErrorCode.BROKER_ACCESS_REFUSED, false],
    [closed(406, 50), ErrorCode.BROKER_PRECONDITION_FAILED, false],
    [closed(320, 10, 'CONNECTION_FORCED - broker forced connection closure'), ErrorCode.BROKER_CHANNEL_CLOSED, true],
    [
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5672'), { code: 'ECONNREFUSED' }),
      ErrorCode.BROKER_CONNECT_REFUSED,
      true,
    ],
    [
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], 'all failed'),
      ErrorCode.BROKER_CONNECT_REFUSED,
      true,
    ],
    [new Error('Channel closed'), ErrorCode.BROKER_CHANNEL_CLOSED, true],
  ])('%s -> %s (transient %s)', (err, code, transient) => {
    const e = toBrokerError(err, url, 'declare queue:orders', { kind: 'Queue', name: 'orders' });
    expect(e).toMatchObject({ code, transient, cause: err });
    expect(e.message).not.toContain('s3cret');
  });

  it('a message that merely mentions NOT_FOUND or ECONNREFUSED is not taken for one', () => {
    const e = toBrokerError(new Error("queue 'NOT_FOUND-ECONNREFUSED' is fine"), url, 'publish');
    expect(e.code).toBe(ErrorCode.BROKER_CHANNEL_CLOSED);
  });

  it('the kind of a missing object comes from the AMQP class when the caller did not name it', () => {
    expect(toBrokerError(closed(404, 40), url, 'check exchange x').message).toMatch(/^Exchange /);
    expect(toBrokerError(closed(404, 50), url, 'check queue q').message).toMatch(/^Queue /);
  });

  it('reads the reply code amqplib keeps only in its handshake message (bad credentials)', () => {
    const handshake = new Error(
      'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused"',
    );
    expect(amqpReplyCode(handshake)).toBe(403);
    expect(toBrokerError(handshake, url, 'connect')).toMatchObject({
      code: ErrorCode.BROKER_ACCESS_REFUSED,
      transient: false,
      details: { replyCode: 403 },
    });
    expect(amqpReplyCode(new Error('something else: 403'))).toBeUndefined();
  });
});
