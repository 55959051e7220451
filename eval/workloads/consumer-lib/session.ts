/**
 * One AMQP connection of the consumer and its single channel: the control consumer, at most one data consumer,
 * acks. A session never reconnects: when its connection or channel closes it is dead for good (`closed`
 * resolves) and the consumer opens a new one. Nothing is acknowledged on a dead session; data it delivered
 * before it died is still processed (deliveries.ts says why), control messages are left to the redelivery.
 */
import { type Channel, type ChannelModel, type ConsumeMessage, connect } from 'amqplib';
import { maskUrl } from '../../../adapters/rabbitmq/errors.ts';
import { ConnectFailedError } from './errors.ts';
import type { PodIdentity } from './identity.ts';
import type { ConsumerLogger } from './logger.ts';
import {
  CONTROL_QUEUE_TYPE,
  controlQueueName,
  declarePrimaryTopology,
  type PrimaryTopology,
  queueOptions,
  withHeartbeat,
} from './topology.ts';

export interface SessionOptions {
  url: string;
  identity: PodIdentity;
  topology: PrimaryTopology;
  prefetch: number;
  heartbeatSeconds: number;
  connectTimeoutMs: number;
  log: ConsumerLogger;
  onData(session: Session, msg: ConsumeMessage, queue: string): void;
  onControl(session: Session, msg: ConsumeMessage): void;
  /** The broker cancelled the data consumer of `queue` (the queue was deleted). */
  onCancelled(session: Session, queue: string): void;
}

export interface SessionEnd {
  reason: string;
  /** True when the consumer ended the session on purpose (stop, identity change): reconnect without delay. */
  forced: boolean;
  error?: unknown;
}

/** How long a polite connection close may take before the socket is destroyed (a restored socket never answers). */
const CLOSE_TIMEOUT_MS = 2000;

export class Session {
  readonly controlQueue: string;
  readonly closed: Promise<SessionEnd>;
  private end!: (e: SessionEnd) => void;
  private ended = false;
  private data: { tag: string; queue: string } | undefined;
  private controlTag: string | undefined;

  private constructor(
    readonly opts: SessionOptions,
    private readonly model: ChannelModel,
    private readonly channel: Channel,
  ) {
    this.controlQueue = controlQueueName(opts.identity.name);
    this.closed = new Promise((resolve) => {
      this.end = resolve;
    });
  }

  /**
   * Connects, opens the channel, sets the prefetch and declares the primary topology and the control queue.
   * Consumers start with {@link consumeControl} and {@link consumeData}.
   */
  static async open(opts: SessionOptions): Promise<Session> {
    const broker = maskUrl(opts.url);
    let model: ChannelModel;
    try {
      model = await connect(withHeartbeat(opts.url, opts.heartbeatSeconds), {
        timeout: opts.connectTimeoutMs,
        clientProperties: { connection_name: `ms2m-consumer ${opts.identity.name}` },
      });
    } catch (err) {
      throw new ConnectFailedError(broker, 'connect', err);
    }
    let session: Session | undefined;
    try {
      const channel = await model.createChannel();
      session = new Session(opts, model, channel);
      const s = session;
      model.on('error', (err: Error) => opts.log.warn({ err: err.message }, 'RabbitMQ connection error'));
      model.on('close', (err?: Error) => void s.close('connection closed', false, err));
      channel.on('error', (err: Error) => opts.log.warn({ err: err.message }, 'RabbitMQ channel error'));
      channel.on('close', () => void s.close('channel closed', false));
      await channel.prefetch(opts.prefetch);
      await declarePrimaryTopology(channel, opts.topology);
      await channel.assertQueue(s.controlQueue, queueOptions(CONTROL_QUEUE_TYPE));
      return s;
    } catch (err) {
      if (session) await session.close('setup failed', false, err);
      else await model.close().catch(() => {});
      throw new ConnectFailedError(broker, 'set up the channel and queues', err);
    }
  }

  get alive(): boolean {
    return !this.ended;
  }

  get identity(): PodIdentity {
    return this.opts.identity;
  }

  /** The queue the data consumer reads, or null. */
  get dataQueue(): string | null {
    return this.data?.queue ?? null;
  }

  async consumeControl(): Promise<void> {
    if (this.controlTag) return;
    const { consumerTag } = await this.channel.consume(this.controlQueue, (msg) => {
      if (msg) this.opts.onControl(this, msg);
      else void this.close(`control queue ${this.controlQueue} deleted`, false);
    });
    this.controlTag = consumerTag;
  }

  async consumeData(queue: string): Promise<void> {
    if (this.data?.queue === queue) return;
    await this.cancelData();
    const entry = { tag: '', queue };
    const { consumerTag } = await this.channel.consume(queue, (msg) => {
      if (msg) this.opts.onData(this, msg, queue);
      else if (this.data === entry) {
        this.data = undefined;
        this.opts.onCancelled(this, queue);
      }
    });
    entry.tag = consumerTag;
    this.data = entry;
  }

  /** Stops data deliveries. Messages delivered already stay unacked until acked or the session dies. */
  async cancelData(): Promise<void> {
    const d = this.data;
    if (!d) return;
    this.data = undefined;
    if (this.alive) await this.channel.cancel(d.tag).catch(() => {});
  }

  /** Passive check on a throwaway channel (a missing queue closes the channel it is checked on: 404). */
  async queueExists(queue: string): Promise<boolean> {
    const ch = await this.model.createChannel();
    ch.on('error', () => {});
    try {
      await ch.checkQueue(queue);
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return false;
      throw err;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  ack(msg: ConsumeMessage): void {
    this.settle(() => this.channel.ack(msg));
  }

  /** Back to the queue for another delivery. */
  requeue(msg: ConsumeMessage): void {
    this.settle(() => this.channel.nack(msg, false, true));
  }

  /** Dropped (or dead-lettered, when the queue has a dead-letter exchange). */
  reject(msg: ConsumeMessage): void {
    this.settle(() => this.channel.nack(msg, false, false));
  }

  private settle(op: () => void): void {
    if (!this.alive) return; // the broker requeues what a dead session held
    try {
      op();
    } catch (err) {
      void this.close('acknowledgement failed', false, err);
    }
  }

  /** Ends the session (idempotent) and closes its connection, destroying the socket if the close hangs. */
  async close(reason: string, forced: boolean, error?: unknown): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.data = undefined;
    this.end(error === undefined ? { reason, forced } : { reason, forced, error });
    let timer: NodeJS.Timeout | undefined;
    const polite = Promise.resolve()
      .then(() => this.model.close())
      .then(
        () => true,
        () => false,
      );
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS);
    });
    const closedPolitely = await Promise.race([polite, timeout]);
    clearTimeout(timer);
    if (!closedPolitely) destroySocket(this.model);
  }
}

/** amqplib keeps the socket at `connection.stream`; destroying it ends a connection that cannot close politely. */
function destroySocket(model: ChannelModel): void {
  const stream = (model.connection as unknown as { stream?: { destroy?: () => void } }).stream;
  stream?.destroy?.();
}
