/**
 * The message broker, as MS2M needs it. The real implementation is `rabbitmq.ts` (amqplib 2 + management API);
 * `fake.ts` beside it records every effect with its idempotency key.
 *
 * Every mutating call is idempotent: declaring what exists, binding what is bound, deleting what is gone are
 * no-ops that succeed. Names on the wire are SHADOW's: replay queue `<queueName>.ms2m-replay` on a durable
 * fanout exchange, control queue `ms2m.control.<pod>`.
 *
 * @example
 * ```ts
 * const cfg = { brokerUrl: 'amqp://guest:guest@127.0.0.1:5672', exchangeName: 'orders', queueName: 'orders' };
 * await broker.ensureTopology(cfg, 'default/m1:topology');
 * const replay = await broker.createReplayQueue(cfg, 'default/m1:replay-queue'); // 'orders.ms2m-replay'
 * await broker.sendControl(cfg, 'myapp-0-shadow', startReplay(replay), 'default/m1:start-replay');
 * const { depth } = await broker.depth(cfg, replay);
 * ```
 */
export interface Broker {
  /** Durable fanout exchange `exchangeName` + primary queue `queueName` bound to it. */
  ensureTopology(cfg: BrokerConfig, key: string): Promise<void>;
  /** Declares `<queueName>.ms2m-replay` and binds it to the exchange. Returns the queue name. */
  createReplayQueue(cfg: BrokerConfig, key: string): Promise<string>;
  /** Unbinds the replay queue from the exchange (no new messages reach it). */
  unbindReplayQueue(cfg: BrokerConfig, key: string): Promise<void>;
  deleteReplayQueue(cfg: BrokerConfig, key: string): Promise<void>;
  /** Persistent, publisher-confirmed message to durable queue `ms2m.control.<pod>`; message id derived from key. */
  sendControl(cfg: BrokerConfig, pod: string, message: ControlMessage, key: string): Promise<void>;
  /** Current depth of a queue: ready + unacknowledged, with rate samples for the cutoff formula. */
  depth(cfg: BrokerConfig, queue: string): Promise<QueueDepth>;
  /**
   * How many messages published before the replay queue was bound have not been delivered to the primary queue's
   * consumer yet (an upper bound, 0 once they all have been). Read from fresh AMQP counts, never the lagging
   * statistics: the replay queue's ready count first, then the primary queue's. Until replay starts nobody
   * consumes the replay queue, so its count is every message published since the bind; the primary queue
   * delivers in order, so while any older message waits there, every newer one waits behind it:
   * `primary.ready <= replay.ready` at an instant means the older ones are all out. Reading the replay queue
   * first makes a pair read a moment apart err towards "not yet". Throws NotFoundError when either is missing.
   */
  undeliveredBeforeReplay(cfg: BrokerConfig): Promise<number>;
  /** Consumers subscribed to `queue` now (AMQP, not the lagging statistics); null when the queue is missing. */
  consumerCount(cfg: BrokerConfig, queue: string): Promise<number | null>;
  close(): Promise<void>;
}

export interface BrokerConfig {
  brokerUrl: string;
  exchangeName: string;
  queueName: string;
  routingKey?: string;
  /** `classic` (default) or `quorum`. */
  queueType?: 'classic' | 'quorum';
}

export type ControlMessage =
  | { type: 'START_REPLAY'; payload: { queue: string } }
  | { type: 'END_REPLAY' }
  /** ms2m extension: asks a consumer to stop consuming its primary queue (Cutoff mode, ShadowPod). */
  | { type: 'STOP_CONSUMING' }
  /** ms2m extension: compensation asks a stopped source to consume its primary queue again. */
  | { type: 'RESUME_CONSUMING' };

export interface QueueDepth {
  /** ready + unacked. */
  depth: number;
  ready: number;
  unacked: number;
  /** Messages/s acknowledged by consumers (mu), when known. */
  consumerRate?: number;
  /** Messages/s published into the queue (lambda), when known. */
  producerRate?: number;
  /**
   * True when the figure is fresh enough to declare "drained" on: the unacked count comes from statistics that
   * lag a few seconds, so an adapter reports `settled: false` until its reading covers the lag window.
   */
  settled: boolean;
}

export const REPLAY_QUEUE_SUFFIX = '.ms2m-replay';
export const replayQueueName = (queueName: string): string => `${queueName}${REPLAY_QUEUE_SUFFIX}`;
export const controlQueueName = (pod: string): string => `ms2m.control.${pod}`;
export const startReplay = (queue: string): ControlMessage => ({ type: 'START_REPLAY', payload: { queue } });
export const endReplay = (): ControlMessage => ({ type: 'END_REPLAY' });
