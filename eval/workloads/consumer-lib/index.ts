/**
 * Migration-aware RabbitMQ consumers for ms2m: the MS2M control protocol (START_REPLAY, END_REPLAY,
 * STOP_CONSUMING, RESUME_CONSUMING on `ms2m.control.<pod>`), dedup by sequence number, acks after processing,
 * and reconnection that re-reads the pod identity (a restored process keeps its source's memory).
 *
 * @example
 * ```ts
 * import { MigratableConsumer } from './eval/workloads/consumer-lib/index.ts';
 *
 * const state = { count: 0 };
 * const consumer = new MigratableConsumer({
 *   url: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
 *   queue: 'orders',
 *   exchange: 'orders-fanout',
 *   handler: () => {
 *     state.count++;
 *   },
 * });
 * await consumer.start();
 * ```
 */

export { maskUrl } from '../../../adapters/rabbitmq/errors.ts';
export { MigratableConsumer } from './consumer.ts';
export {
  type ConsumerMode,
  type ControlMessage,
  type ControlType,
  dataQueueOf,
  nextMode,
  parseControlMessage,
  sameMode,
} from './control.ts';
export {
  ConnectFailedError,
  ConnectionLostError,
  ConsumerCancelledError,
  ConsumerError,
  ConsumerErrorCode,
  ConsumerStoppedError,
  HandlerFailedError,
  IdentityUnavailableError,
  InvalidControlMessageError,
  InvalidMessageError,
  InvalidOptionsError,
} from './errors.ts';
export {
  DEFAULT_NAME_FILE,
  DEFAULT_POD_NAME_ENV,
  DEFAULT_PODINFO_DIR,
  type IdentityOptions,
  isOtherPod,
  type PodIdentity,
  readIdentity,
} from './identity.ts';
export { type ConsumerLogger, silentLogger } from './logger.ts';
export {
  type ConsumedMessage,
  type ConsumerEvents,
  type ConsumerStats,
  type MessageHandler,
  type MigratableConsumerOptions,
  type ModeCause,
  RESTORE_MODE_ENV,
} from './options.ts';
export { type SequenceReader, SequenceSet, sequenceOfMessage } from './sequence.ts';
export {
  backoffMs,
  controlQueueName,
  declarePrimaryTopology,
  type PrimaryTopology,
  type QueueType,
  queueOptions,
  replayQueueName,
  withHeartbeat,
} from './topology.ts';
