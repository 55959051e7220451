/**
 * The evaluation producer: numbered messages at a fixed rate to the durable fanout exchange, each publisher-
 * confirmed before the next, through broker restarts. `producer.ts` runs it as a process.
 */
import { randomBytes } from 'node:crypto';
import { type ChannelModel, type ConfirmChannel, connect } from 'amqplib';
import {
  backoffMs,
  type ConsumerLogger,
  declarePrimaryTopology,
  maskUrl,
  type QueueType,
  silentLogger,
  withHeartbeat,
} from './consumer-lib/index.ts';
import { encodeMessage } from './message.ts';

export interface RateProducerOptions {
  url: string;
  /** Durable fanout exchange (the migration's `exchangeName`). */
  exchange: string;
  /** Primary queue to declare and bind, so nothing is dropped before a consumer exists; none when absent. */
  queue?: string;
  queueType?: QueueType;
  routingKey?: string;
  /** Messages per second (> 0). */
  rate: number;
  /** Stop publishing after this many messages (default: never). */
  count?: number;
  heartbeatSeconds?: number;
  logger?: ConsumerLogger;
}

/** What GET /state answers. */
export interface ProducerState {
  /** Sequence numbers confirmed by the broker (= lastSeq: numbering starts at 1 and has no gaps). */
  sent: number;
  /** The last confirmed sequence number (0 before the first). */
  lastSeq: number;
  /** Publications repeated because the connection was lost before their confirm (a consumer may see them twice). */
  republished: number;
  connected: boolean;
  connects: number;
  rate: number;
  exchange: string;
  /** True once `count` messages are confirmed. */
  done: boolean;
}

/** A producer that fell further behind than this (an outage) restarts its schedule instead of bursting. */
const MAX_BACKLOG_MS = 1000;

/**
 * @example
 * ```ts
 * const producer = new RateProducer({ url, exchange: 'orders-fanout', queue: 'orders', rate: 20 });
 * await producer.start();
 * // ... later
 * await producer.stop();
 * producer.state(); // { sent: 412, lastSeq: 412, republished: 0, ... }
 * ```
 */
export class RateProducer {
  private lastSeq = 0;
  private republished = 0;
  private connects = 0;
  private connected = false;
  private pending: number | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly runId = randomBytes(4).toString('hex');
  private readonly log: ConsumerLogger;
  private readonly first: { promise: Promise<void>; resolve(): void };
  private readonly finished: { promise: Promise<void>; resolve(): void };

  constructor(private readonly opts: RateProducerOptions) {
    if (!(opts.rate > 0) || !Number.isFinite(opts.rate)) throw new Error(`rate must be > 0 msg/s (got ${opts.rate})`);
    if (opts.count !== undefined && (!Number.isInteger(opts.count) || opts.count < 0))
      throw new Error(`count must be a non-negative integer (got ${opts.count})`);
    this.log = opts.logger ?? silentLogger;
    this.first = deferred();
    this.finished = deferred();
  }

  state(): ProducerState {
    return {
      sent: this.lastSeq,
      lastSeq: this.lastSeq,
      republished: this.republished,
      connected: this.connected,
      connects: this.connects,
      rate: this.opts.rate,
      exchange: this.opts.exchange,
      done: this.opts.count !== undefined && this.lastSeq >= this.opts.count,
    };
  }

  /** Starts; resolves once connected the first time (retrying until then). */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.first.promise;
  }

  /** Resolves once `count` messages are confirmed (never without `count`). */
  done(): Promise<void> {
    return this.finished.promise;
  }

  /** Stops after the publication in flight is confirmed (or its connection is lost), then disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      let model: ChannelModel | undefined;
      try {
        model = await connect(withHeartbeat(this.opts.url, this.opts.heartbeatSeconds ?? 5), {
          timeout: 5000,
          clientProperties: { connection_name: `ms2m-producer ${this.runId}` },
        });
        const m = model;
        const lost = new Promise<Error>((resolve) =>
          m.on('close', (err?: Error) => resolve(err ?? new Error('connection closed'))),
        );
        m.on('error', (err: Error) => this.log.warn({ err: err.message }, 'RabbitMQ connection error'));
        const ch = await m.createConfirmChannel();
        ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'RabbitMQ channel error'));
        if (this.opts.queue) {
          await declarePrimaryTopology(ch, {
            exchange: this.opts.exchange,
            queue: this.opts.queue,
            ...(this.opts.queueType === undefined ? {} : { queueType: this.opts.queueType }),
            ...(this.opts.routingKey === undefined ? {} : { routingKey: this.opts.routingKey }),
          });
        } else {
          await ch.assertExchange(this.opts.exchange, 'fanout', { durable: true });
        }
        this.connected = true;
        this.connects++;
        attempt = 0;
        this.log.info(
          {
            broker: maskUrl(this.opts.url),
            exchange: this.opts.exchange,
            rate: this.opts.rate,
            next: this.lastSeq + 1,
          },
          'Connected to RabbitMQ; publishing',
        );
        this.first.resolve();
        await this.publishUntilLost(ch, lost);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, next: this.lastSeq + 1 }, 'Publishing interrupted; reconnecting');
      } finally {
        this.connected = false;
        if (model) await closeQuietly(model);
      }
      if (this.stopping) break;
      attempt++;
      await this.pause(backoffMs(attempt, 100, 5000));
    }
    this.log.info({ sent: this.lastSeq, republished: this.republished }, 'Producer stopped');
  }

  private async publishUntilLost(ch: ConfirmChannel, lost: Promise<Error>): Promise<void> {
    const interval = 1000 / this.opts.rate;
    let base = performance.now();
    let slot = 0;
    const aborted = lost.then((err) => {
      throw err;
    });
    aborted.catch(() => {});
    for (;;) {
      if (this.stopping) return;
      if (this.opts.count !== undefined && this.lastSeq >= this.opts.count) {
        this.finished.resolve();
        await Promise.race([aborted, new Promise<void>((r) => (this.wake = r))]);
        return;
      }
      const due = base + slot * interval;
      const now = performance.now();
      if (now - due > MAX_BACKLOG_MS) {
        base = now;
        slot = 0;
      } else if (due > now) {
        await Promise.race([aborted, this.pause(due - now)]);
        if (this.stopping) return;
      }
      slot++;
      const seq = this.lastSeq + 1;
      if (this.pending === seq) this.republished++;
      this.pending = seq;
      await Promise.race([aborted, this.publish(ch, seq)]);
      this.lastSeq = seq;
      this.pending = undefined;
    }
  }

  private publish(ch: ConfirmChannel, seq: number): Promise<void> {
    const id = `${this.runId}-${seq}`;
    const body = encodeMessage({ seq, id, ts: Date.now() / 1000 });
    return new Promise<void>((resolve, reject) => {
      try {
        ch.publish(
          this.opts.exchange,
          this.opts.routingKey ?? '',
          body,
          {
            persistent: true,
            messageId: id,
            contentType: 'application/json',
            timestamp: Math.floor(Date.now() / 1000),
          },
          (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
        );
      } catch (err) {
        reject(err);
      }
    });
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
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function closeQuietly(model: ChannelModel): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.resolve()
      .then(() => model.close())
      .catch(() => {}),
    new Promise<void>((r) => {
      timer = setTimeout(r, 2000);
    }),
  ]);
  clearTimeout(timer);
}
