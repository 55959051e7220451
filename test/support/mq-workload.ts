/**
 * A tiny MS2M workload on a real RabbitMQ, for tests: a producer of numbered messages and migration-aware
 * consumers that obey the control queue (START_REPLAY / END_REPLAY / STOP_CONSUMING / RESUME_CONSUMING).
 * Both survive a broker restart (amqplib 2 connection recovery re-runs their setup). Consumers de-duplicate
 * by message number, as a migration-aware consumer must.
 */
import { type ChannelModel, connect, type RecoveringChannelModel } from 'amqplib';
import { controlQueueName } from '../../adapters/rabbitmq/port.ts';

const recovery = (setup?: (m: ChannelModel) => Promise<void>) => ({ initialDelay: 100, maxDelay: 1000, setup });

export class NumberedProducer {
  private stopped = false;
  private done: Promise<void> | undefined;
  sent = 0;

  constructor(
    private readonly url: string,
    private readonly exchange: string,
    private readonly perSecond: number,
  ) {}

  start(): void {
    this.done = (async () => {
      const conn = await connect(this.url, { recovery: recovery() });
      conn.on('error', () => {});
      while (!this.stopped) {
        try {
          const ch = await conn.createConfirmChannel();
          ch.on('error', () => {});
          while (!this.stopped) {
            const n = this.sent + 1;
            await new Promise<void>((resolve, reject) =>
              ch.publish(this.exchange, '', Buffer.from(String(n)), { persistent: true, messageId: `m${n}` }, (err) =>
                err ? reject(err) : resolve(),
              ),
            );
            this.sent = n;
            await new Promise((r) => setTimeout(r, 1000 / this.perSecond));
          }
          await ch.close().catch(() => {});
        } catch {
          await new Promise((r) => setTimeout(r, 200)); // broker away: publish again once it is back
        }
      }
      await conn.close().catch(() => {});
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

type Mode = { kind: 'primary' } | { kind: 'replay'; queue: string } | { kind: 'stopped' };

export class MigratingConsumer {
  /** Message numbers this consumer has processed (its state). */
  readonly seen = new Set<number>();
  readonly control: string[] = [];
  private mode: Mode;
  private conn: RecoveringChannelModel | undefined;

  constructor(
    private readonly url: string,
    readonly pod: string,
    private readonly primaryQueue: string,
    initial: 'primary' | 'waiting',
  ) {
    this.mode = initial === 'primary' ? { kind: 'primary' } : { kind: 'stopped' };
  }

  async start(): Promise<void> {
    // recovery runs setup after every successful connection, the first included
    this.conn = await connect(this.url, { recovery: recovery((m) => this.setup(m)) });
    this.conn.on('error', () => {});
  }

  private async setup(m: ChannelModel): Promise<void> {
    const ch = await m.createChannel();
    ch.on('error', () => {});
    await ch.prefetch(10);
    const controlQueue = controlQueueName(this.pod);
    await ch.assertQueue(controlQueue, { durable: true });
    let consumerTag: string | undefined;
    const consume = async (queue: string) => {
      if (consumerTag) await ch.cancel(consumerTag);
      consumerTag = (
        await ch.consume(queue, (msg) => {
          if (!msg) return;
          this.seen.add(Number(msg.content.toString()));
          ch.ack(msg);
        })
      ).consumerTag;
    };
    const follow = async () => {
      if (this.mode.kind === 'primary') await consume(this.primaryQueue);
      else if (this.mode.kind === 'replay') await consume(this.mode.queue);
      else if (consumerTag) {
        await ch.cancel(consumerTag);
        consumerTag = undefined;
      }
    };
    await ch.consume(controlQueue, (msg) => {
      if (!msg) return;
      const body = JSON.parse(msg.content.toString()) as { type: string; payload?: { queue: string } };
      this.control.push(body.type);
      if (body.type === 'START_REPLAY') this.mode = { kind: 'replay', queue: body.payload!.queue };
      if (body.type === 'END_REPLAY' || body.type === 'RESUME_CONSUMING') this.mode = { kind: 'primary' };
      if (body.type === 'STOP_CONSUMING') this.mode = { kind: 'stopped' };
      // the channel may close before the switch settles (connection lost, broker stopped): the control message
      // then stays unacked and is delivered again after recovery
      const ack = () => {
        try {
          ch.ack(msg);
        } catch {}
      };
      void follow().then(ack, ack);
    });
    await follow();
  }

  async stop(): Promise<void> {
    await this.conn?.close().catch(() => {});
  }
}
