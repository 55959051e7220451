/**
 * A RabbitMQ consumer that can be live-migrated by the ms2m operator (MS2M: checkpoint, restore elsewhere,
 * replay, switch over). See README.md beside this file for the protocol and the guarantees.
 */
import { EventEmitter } from 'node:events';
import type { ConsumeMessage } from 'amqplib';
import { maskUrl } from '../../../adapters/rabbitmq/errors.ts';
import {
  type ConsumerMode,
  type ControlMessage,
  dataQueueOf,
  nextMode,
  PRIMARY,
  parseControlMessage,
  sameMode,
} from './control.ts';
import { DeliveryProcessor } from './deliveries.ts';
import {
  ConnectFailedError,
  ConnectionLostError,
  ConsumerCancelledError,
  ConsumerError,
  ConsumerStoppedError,
  InvalidControlMessageError,
} from './errors.ts';
import { isOtherPod, type PodIdentity, readIdentity } from './identity.ts';
import { type ConsumerLogger, silentLogger } from './logger.ts';
import {
  type ConsumerEvents,
  type ConsumerStats,
  type MigratableConsumerOptions,
  type ModeCause,
  RESTORE_MODE_ENV,
  validateOptions,
} from './options.ts';
import { SequenceSet, sequenceOfMessage } from './sequence.ts';
import { Session } from './session.ts';
import { backoffMs, replayQueueName } from './topology.ts';

/** How many applied control message ids are remembered to drop repeats (the operator resends with the same id). */
const REMEMBERED_CONTROL_IDS = 1000;

/**
 * A migration-aware RabbitMQ consumer: follows the MS2M control queue `ms2m.control.<pod>`, de-duplicates by
 * sequence number, acknowledges only after processing, and reconnects (re-reading its pod identity) for as
 * long as it runs.
 *
 * @example
 * ```ts
 * let total = 0;
 * const consumer = new MigratableConsumer({
 *   url: 'amqp://guest:guest@rabbitmq:5672',
 *   queue: 'orders',
 *   exchange: 'orders-fanout',
 *   handler: async ({ seq, content }) => {
 *     total += JSON.parse(content.toString()).amount;
 *   },
 * });
 * consumer.on('mode', ({ from, to, cause }) => console.log(from.kind, '->', to.kind, cause));
 * await consumer.start();
 * process.on('SIGTERM', () => void consumer.stop());
 * ```
 */
export class MigratableConsumer extends EventEmitter<ConsumerEvents> {
  /** The sequence numbers processed: the dedup state. Lives in memory beside the application's own state. */
  readonly processed: SequenceSet;
  private readonly opts: MigratableConsumerOptions;
  private readonly log: ConsumerLogger;
  private current: ConsumerMode;
  private session: Session | undefined;
  private lastIdentity: PodIdentity | undefined;
  private readonly deliveries: DeliveryProcessor;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly appliedControlIds = new Set<string>();
  private readonly counters: ConsumerStats = {
    processed: 0,
    duplicates: 0,
    invalid: 0,
    handlerFailures: 0,
    controlMessages: 0,
    connects: 0,
  };
  private stopping = false;
  private loop: Promise<void> | undefined;
  private identityTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private firstConnect: { promise: Promise<void>; resolve(): void; reject(e: Error): void };

  constructor(opts: MigratableConsumerOptions) {
    super();
    validateOptions(opts);
    this.opts = opts;
    this.log = opts.logger ?? silentLogger;
    this.processed = opts.processed ?? new SequenceSet();
    this.deliveries = new DeliveryProcessor({
      handler: opts.handler,
      sequenceOf: opts.sequenceOf ?? sequenceOfMessage,
      processed: this.processed,
      counters: this.counters,
      retryDelayMs: opts.handlerRetryDelayMs ?? 1000,
      log: this.log,
      onProcessed: (seq, queue) => this.emit('processed', { seq, queue }),
      onDuplicate: (seq, queue) => this.emit('duplicate', { seq, queue }),
      onFailure: (err) => this.fail(err),
    });
    const restoreMode = (opts.env ?? process.env)[RESTORE_MODE_ENV] === 'true';
    const initial = opts.initialMode ?? (restoreMode ? 'awaiting-replay' : 'primary');
    this.current = initial === 'primary' ? PRIMARY : { kind: 'awaiting-replay' };
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    this.firstConnect = { promise, resolve, reject };
  }

  /** The current mode. */
  get mode(): ConsumerMode {
    return this.current;
  }

  /** The identity of the current (or last) connection. */
  get identity(): PodIdentity | undefined {
    return this.lastIdentity;
  }

  get connected(): boolean {
    return this.session?.alive === true;
  }

  /** The control queue of the current (or last) connection. */
  get controlQueue(): string | undefined {
    return this.session?.controlQueue;
  }

  stats(): ConsumerStats {
    return { ...this.counters };
  }

  /**
   * Starts consuming; resolves once connected the first time. Until `stop()`, the consumer retries with backoff
   * (an unreachable broker is reported on `failure` and retried, never thrown).
   */
  start(): Promise<void> {
    if (this.stopping) return Promise.reject(new ConsumerStoppedError('start'));
    if (!this.loop) {
      this.loop = this.run();
      const every = this.opts.identityPollMs ?? 1000;
      if (every > 0) this.identityTimer = setInterval(() => void this.checkIdentity(), every);
    }
    return this.firstConnect.promise;
  }

  /**
   * Stops: no new deliveries, the messages delivered already are processed and acknowledged (up to
   * `stopTimeoutMs`), then the connection closes. Unprocessed messages go back to their queue.
   */
  async stop(): Promise<void> {
    if (this.stopping) {
      await this.loop;
      return;
    }
    this.stopping = true;
    clearInterval(this.identityTimer);
    this.wake?.();
    const s = this.session;
    if (s?.alive) {
      await s.cancelData();
      await this.deliveries.idle(this.opts.stopTimeoutMs ?? 10_000);
      await s.close('stopped', true);
    }
    await this.loop;
    this.firstConnect.reject(new ConsumerStoppedError('the first connection'));
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      const session = await this.openSession().catch((err: unknown) => {
        this.fail(err instanceof ConsumerError ? err : new ConnectFailedError(maskUrl(this.opts.url), 'consume', err));
        return undefined;
      });
      if (session) {
        attempt = 0;
        const end = await session.closed;
        if (this.session === session) this.session = undefined;
        this.log.warn({ reason: end.reason, forced: end.forced }, 'Disconnected from RabbitMQ');
        this.emit('disconnected', { reason: end.reason, forced: end.forced });
        if (!end.forced && !this.stopping)
          this.fail(new ConnectionLostError(maskUrl(this.opts.url), end.reason, end.error));
        if (end.forced) continue;
      }
      if (this.stopping) break;
      attempt++;
      const r = this.opts.reconnectDelayMs;
      await this.pause(backoffMs(attempt, r?.initial ?? 100, r?.max ?? 5000));
    }
  }

  /** Reads the identity, connects, and consumes the control queue and the data queue of the current mode. */
  private async openSession(): Promise<Session | undefined> {
    const identity = await readIdentity(this.opts.identity);
    const before = this.lastIdentity;
    if (before && isOtherPod(before, identity) && this.opts.restoreOnIdentityChange !== false) {
      this.log.info({ from: before, to: identity }, `Restored into pod ${identity.name}; waiting for START_REPLAY`);
      this.emit('restored', { from: before, to: identity });
      this.setMode({ kind: 'awaiting-replay' }, 'restored');
    }
    this.lastIdentity = identity;
    const session = await Session.open({
      url: this.opts.url,
      identity,
      topology: {
        queue: this.opts.queue,
        ...(this.opts.exchange === undefined ? {} : { exchange: this.opts.exchange }),
        ...(this.opts.routingKey === undefined ? {} : { routingKey: this.opts.routingKey }),
        ...(this.opts.queueType === undefined ? {} : { queueType: this.opts.queueType }),
      },
      prefetch: this.opts.prefetch ?? 10,
      heartbeatSeconds: this.opts.heartbeatSeconds ?? 5,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 5000,
      log: this.log,
      onData: (s, msg, queue) => this.deliveries.push({ session: s, msg, queue }),
      onControl: (s, msg) => void this.serialize(() => this.applyControl(s, msg)),
      onCancelled: (s, queue) => void this.serialize(() => this.onCancelled(s, queue)),
    });
    if (this.stopping) {
      await session.close('stopped', true);
      return undefined;
    }
    try {
      // serialized with control messages, which can only arrive once the control consumer runs
      await this.serialize(async () => {
        await this.establish(session);
        await session.consumeControl();
      });
    } catch (err) {
      await session.close('setup failed', false, err);
      throw err;
    }
    this.session = session;
    this.counters.connects++;
    this.log.info(
      { pod: identity.name, source: identity.source, controlQueue: session.controlQueue, mode: this.current.kind },
      `Connected to RabbitMQ as ${identity.name}`,
    );
    this.emit('connected', {
      identity,
      controlQueue: session.controlQueue,
      mode: this.current,
      connects: this.counters.connects,
    });
    this.firstConnect.resolve();
    return session;
  }

  /**
   * Makes the session consume what the current mode says. On a (re)connect, a consumer waiting for START_REPLAY
   * (or replaying) whose replay queue does not exist goes to the primary queue: no migration is replaying it (a
   * container restored again by a kubelet restart after the migration ended would otherwise wait forever).
   */
  private async establish(session: Session): Promise<void> {
    const mode = this.current;
    if (mode.kind === 'awaiting-replay' && !(await session.queueExists(replayQueueName(this.opts.queue))))
      this.setMode(PRIMARY, 'replay-queue-missing');
    else if (mode.kind === 'replay' && !(await session.queueExists(mode.queue)))
      this.setMode(PRIMARY, 'replay-queue-missing');
    const queue = dataQueueOf(this.current, this.opts.queue);
    if (session.dataQueue === queue) return;
    // finish what the old queue delivered before taking from the new one
    await session.cancelData();
    await this.deliveries.idle();
    if (queue !== null && session.alive) await session.consumeData(queue);
  }

  private async applyControl(session: Session, msg: ConsumeMessage): Promise<void> {
    if (!session.alive) return; // unacked: the broker redelivers it to the next session
    let message: ControlMessage;
    try {
      message = parseControlMessage(msg.content);
    } catch (err) {
      this.fail(new InvalidControlMessageError(session.controlQueue, (err as Error).message, err));
      session.ack(msg);
      return;
    }
    const id = typeof msg.properties.messageId === 'string' ? msg.properties.messageId : undefined;
    const repeated = id !== undefined && this.appliedControlIds.has(id);
    if (!repeated) {
      this.log.info({ type: message.type, messageId: id }, `Received ${message.type}`);
      this.setMode(nextMode(this.current, message), message.type);
      await this.establish(session);
    }
    if (!session.alive) return; // the mode is set; the next session establishes it, the redelivery is a no-op
    if (id !== undefined) this.rememberControlId(id);
    if (!repeated) this.counters.controlMessages++;
    session.ack(msg);
    this.emit('control', { message, ...(id === undefined ? {} : { messageId: id }), repeated });
  }

  /**
   * The broker cancelled the data consumer: its queue was deleted. A deleted replay queue does NOT move the
   * consumer onto the primary queue: in a compensation the operator deletes it while the source serves again, and
   * a target taking from the primary queue then would take messages from the source (lost with the target pod).
   * The consumer consumes nothing until END_REPLAY (normal flow: it is on its way) or its pod is deleted.
   */
  private async onCancelled(session: Session, queue: string): Promise<void> {
    if (!session.alive) return;
    this.fail(new ConsumerCancelledError(queue));
    if (this.current.kind === 'replay' && this.current.queue === queue) {
      this.setMode({ kind: 'awaiting-replay' }, 'replay-queue-deleted');
    } else if (dataQueueOf(this.current, this.opts.queue) === queue) {
      // the primary queue was deleted: a new session declares it again
      await session.close(`queue ${queue} deleted`, false);
    }
  }

  private setMode(to: ConsumerMode, cause: ModeCause): void {
    const from = this.current;
    if (sameMode(from, to)) return;
    this.current = to;
    this.log.info({ from: from.kind, to: to.kind, queue: dataQueueOf(to, this.opts.queue), cause }, 'Mode changed');
    this.emit('mode', { from, to, cause });
  }

  /** Runs mode changes one after another (control messages, cancellations, session setup). */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch((err: unknown) => {
      if (!(err instanceof ConsumerError)) this.log.warn({ err: (err as Error)?.message }, 'Mode change failed');
    });
    return p;
  }

  /** A new identity while connected means a restore into another pod: reconnect now rather than at the next error. */
  private async checkIdentity(): Promise<void> {
    const s = this.session;
    if (!s?.alive || this.stopping) return;
    let now: PodIdentity;
    try {
      now = await readIdentity(this.opts.identity);
    } catch {
      return; // reported by the next reconnect
    }
    if (s.alive && isOtherPod(s.identity, now)) {
      this.log.info({ from: s.identity.name, to: now.name }, 'Pod identity changed; reconnecting');
      await s.close('pod identity changed', true);
    }
  }

  private rememberControlId(id: string): void {
    this.appliedControlIds.add(id);
    if (this.appliedControlIds.size > REMEMBERED_CONTROL_IDS) {
      const oldest = this.appliedControlIds.values().next().value;
      if (oldest !== undefined) this.appliedControlIds.delete(oldest);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private fail(err: ConsumerError): void {
    this.log.warn(
      { code: err.code, ...(err.replyCode === undefined ? {} : { replyCode: err.replyCode }) },
      err.message,
    );
    this.emit('failure', err);
  }
}
