/**
 * One AMQP connection per broker URL with automatic reconnect (amqplib 2 recovery, exponential backoff) and
 * a record of everything declared through it, re-declared after each reconnect (amqplib does not recover
 * channels or topology). Every connection and channel has an `error` listener: a channel error never crashes
 * the process, it fails the one operation that caused it.
 */
import { type Channel, type ChannelModel, type ConfirmChannel, connect, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { BrokerConnectRefusedError, maskUrl, toBrokerError } from './errors.ts';

export type Declaration =
  | { kind: 'exchange'; name: string }
  | { kind: 'queue'; name: string; queueType: 'classic' | 'quorum' }
  | { kind: 'bind'; queue: string; exchange: string; routingKey: string };

export const declarationKey = (d: Declaration): string =>
  d.kind === 'bind' ? `bind:${d.queue}<-${d.exchange}:${d.routingKey}` : `${d.kind}:${d.name}`;

/** Queue arguments for a queue type; quorum queues must be durable and not exclusive/auto-delete. */
export const queueOptions = (queueType: 'classic' | 'quorum') => ({
  durable: true,
  arguments: { 'x-queue-type': queueType },
});

export async function applyDeclaration(ch: Channel, d: Declaration): Promise<void> {
  if (d.kind === 'exchange') await ch.assertExchange(d.name, 'fanout', { durable: true });
  else if (d.kind === 'queue') await ch.assertQueue(d.name, queueOptions(d.queueType));
  else await ch.bindQueue(d.queue, d.exchange, d.routingKey);
}

export interface RabbitConnectionOptions {
  url: string;
  logger: Logger;
  /** Per-operation limit (ms) while the broker is unreachable; default 10000. */
  opTimeoutMs?: number;
  /** Connection attempts before the first connect gives up with a typed error; default 3. */
  initialRetries?: number;
}

/**
 * The connection of one broker URL; `declare` records what it declares for re-declaration after reconnects.
 *
 * @example
 * ```ts
 * const conn = new RabbitConnection({ url: 'amqp://guest:guest@127.0.0.1:5672', logger });
 * await conn.declare({ kind: 'exchange', name: 'orders' });
 * const ready = await conn.withThrowawayChannel('check', async (ch) => (await ch.checkQueue('orders')).messageCount);
 * ```
 */
export class RabbitConnection {
  readonly declared = new Map<string, Declaration>();
  /** Increments on every (re)connect; tests and depth readings use it to see a reconnect happened. */
  generation = 0;
  private model: Promise<RecoveringChannelModel> | undefined;
  private channel: Promise<Channel> | undefined;
  private confirm: Promise<ConfirmChannel> | undefined;
  private readonly log: Logger;
  private readonly opTimeoutMs: number;

  constructor(private readonly opts: RabbitConnectionOptions) {
    this.log = opts.logger.child({ component: 'rabbitmq', broker: maskUrl(opts.url) });
    this.opTimeoutMs = opts.opTimeoutMs ?? 10_000;
  }

  private connect(): Promise<RecoveringChannelModel> {
    if (this.model) return this.model;
    const p = connect(this.opts.url, {
      recovery: {
        initialDelay: 100,
        maxDelay: 5000,
        factor: 2,
        initialMaxRetries: this.opts.initialRetries ?? 3,
        maxRetries: Number.POSITIVE_INFINITY,
        setup: (model: ChannelModel) => this.redeclare(model),
      },
    }).then((m) => {
      m.on('error', (err: Error) => this.log.warn({ err: err.message }, 'RabbitMQ connection error'));
      m.on('disconnect', (err: Error) => {
        this.channel = undefined;
        this.confirm = undefined;
        this.log.warn({ err: err?.message }, 'Lost RabbitMQ connection; reconnecting');
      });
      m.on('connect', () => {
        this.generation++;
        this.log.info({ generation: this.generation }, 'Connected to RabbitMQ');
      });
      m.on('reconnect-failed', (err: Error) =>
        this.log.error({ err: err.message }, 'Gave up reconnecting to RabbitMQ'),
      );
      this.generation++;
      return m;
    });
    this.model = p;
    p.catch(() => {
      if (this.model === p) this.model = undefined;
    });
    return p;
  }

  /** Runs after every successful (re)connect, before waiting operations resume. Never throws (that would loop). */
  private async redeclare(model: { createChannel(): Promise<Channel> }): Promise<void> {
    if (this.declared.size === 0) return;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'Re-declare channel error'));
    for (const d of this.declared.values()) {
      try {
        await applyDeclaration(ch, d);
      } catch (err) {
        this.log.error({ err: (err as Error).message, declaration: d }, 'Could not re-declare after reconnect');
        return;
      }
    }
    await ch.close().catch(() => {});
    this.log.info({ count: this.declared.size }, 'Re-declared topology after reconnect');
  }

  /** Forgets a cached channel once it closed, so the next operation opens a fresh one. */
  /** A channel shared by operations until it closes; then it is dropped and the next operation opens a new one. */
  private sharedChannel<C extends Channel>(opening: Promise<C>): Promise<C> {
    const p: Promise<C> = opening.then((ch) => this.watchChannel(ch, () => this.dropChannel(p)));
    p.catch(() => this.dropChannel(p));
    return p;
  }

  private dropChannel(p: Promise<Channel>): void {
    if (this.channel === p) this.channel = undefined;
    if (this.confirm === p) this.confirm = undefined;
  }

  private watchChannel<T extends Channel>(ch: T, drop: () => void): T {
    ch.on('error', (err: Error) => this.log.debug({ err: err.message }, 'RabbitMQ channel error'));
    ch.on('close', drop);
    return ch;
  }

  private async timed<T>(
    operation: string,
    work: Promise<T>,
    object?: { kind: 'Queue' | 'Exchange'; name: string },
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new BrokerConnectRefusedError(
              this.opts.url,
              new Error(`${operation} got no answer within ${this.opTimeoutMs} ms`),
            ),
          ),
        this.opTimeoutMs,
      );
    });
    work.catch(() => {});
    try {
      return await Promise.race([work, timeout]);
    } catch (err) {
      throw toBrokerError(err, this.opts.url, operation, object);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs `fn` on the shared operation channel (re-created after it closes). */
  async withChannel<T>(
    operation: string,
    fn: (ch: Channel) => Promise<T>,
    object?: { kind: 'Queue' | 'Exchange'; name: string },
  ): Promise<T> {
    const work = (async () => {
      const model = await this.connect();
      this.channel ??= this.sharedChannel(model.createChannel());
      return fn(await this.channel);
    })();
    return this.timed(operation, work, object);
  }

  /** Runs `fn` on a throwaway channel: for passive checks, which close the channel when the object is missing. */
  async withThrowawayChannel<T>(
    operation: string,
    fn: (ch: Channel) => Promise<T>,
    object?: { kind: 'Queue' | 'Exchange'; name: string },
  ): Promise<T> {
    const work = (async () => {
      const model = await this.connect();
      const ch = this.watchChannel(await model.createChannel(), () => {});
      try {
        return await fn(ch);
      } finally {
        await ch.close().catch(() => {});
      }
    })();
    return this.timed(operation, work, object);
  }

  /** Publishes on the shared confirm channel and resolves once the broker confirmed it. */
  async publishConfirmed(
    operation: string,
    queue: string,
    body: Buffer,
    props: Parameters<ConfirmChannel['sendToQueue']>[2],
  ): Promise<void> {
    const work = (async () => {
      const model = await this.connect();
      this.confirm ??= this.sharedChannel(model.createConfirmChannel());
      const ch = await this.confirm;
      await new Promise<void>((resolve, reject) => {
        ch.sendToQueue(queue, body, props, (err) => (err ? reject(err) : resolve()));
      });
    })();
    return this.timed(operation, work, { kind: 'Queue', name: queue });
  }

  /** Declares and records, so the declaration is repeated after every reconnect. */
  async declare(d: Declaration): Promise<void> {
    const object =
      d.kind === 'exchange'
        ? { kind: 'Exchange' as const, name: d.name }
        : { kind: 'Queue' as const, name: d.kind === 'queue' ? d.name : d.queue };
    await this.withChannel(`declare ${declarationKey(d)}`, (ch) => applyDeclaration(ch, d), object);
    this.declared.set(declarationKey(d), d);
  }

  forget(d: Declaration): void {
    this.declared.delete(declarationKey(d));
  }

  async close(): Promise<void> {
    const m = this.model;
    this.model = undefined;
    if (m) await (await m.catch(() => undefined))?.close().catch(() => {});
  }
}
