/**
 * Data messages, one at a time in arrival order: read the sequence number, skip it if processed already, else
 * run the handler, record the number, and only then acknowledge. A delivery of a session that died meanwhile is
 * processed all the same, only not acknowledged (the session cannot): after a plain reconnect the broker
 * delivers it again and the record turns the second copy into a skip; after a restore from a checkpoint it is
 * the only copy this process will ever see, because the broker handed it to the checkpointed source, which
 * acknowledges it itself (MS2M ShadowPod: the source keeps running). Dropping it would lose it.
 */
import type { ConsumeMessage } from 'amqplib';
import { type ConsumerError, HandlerFailedError, InvalidMessageError } from './errors.ts';
import type { ConsumerLogger } from './logger.ts';
import type { ConsumerStats, MessageHandler } from './options.ts';
import type { SequenceReader, SequenceSet } from './sequence.ts';
import type { Session } from './session.ts';

export interface Delivery {
  session: Session;
  msg: ConsumeMessage;
  queue: string;
}

export interface DeliveryProcessorOptions {
  handler: MessageHandler;
  sequenceOf: SequenceReader;
  processed: SequenceSet;
  counters: ConsumerStats;
  /** Pause before a message whose handler failed is requeued (ms). */
  retryDelayMs: number;
  log: ConsumerLogger;
  onProcessed(seq: number, queue: string): void;
  onDuplicate(seq: number, queue: string): void;
  onFailure(err: ConsumerError): void;
}

export class DeliveryProcessor {
  private readonly queue: Delivery[] = [];
  private running = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly o: DeliveryProcessorOptions) {}

  push(d: Delivery): void {
    this.queue.push(d);
    void this.drain();
  }

  /** Resolves once every delivery received so far is settled (or after `timeoutMs`). */
  idle(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(resolve, timeoutMs) : undefined;
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let d = this.queue.shift(); d; d = this.queue.shift()) {
        await this.process(d);
      }
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async process({ session, msg, queue }: Delivery): Promise<void> {
    const o = this.o;
    let seq: number;
    try {
      seq = o.sequenceOf(msg.content, msg.properties);
    } catch (err) {
      o.counters.invalid++;
      o.onFailure(new InvalidMessageError(queue, (err as Error).message, err));
      session.reject(msg);
      return;
    }
    if (o.processed.has(seq)) {
      o.counters.duplicates++;
      o.log.debug({ seq, queue }, 'Skipped a duplicate');
      o.onDuplicate(seq, queue);
      session.ack(msg);
      return;
    }
    try {
      await o.handler({
        seq,
        content: msg.content,
        queue,
        redelivered: msg.fields.redelivered,
        properties: msg.properties,
      });
    } catch (err) {
      o.counters.handlerFailures++;
      o.onFailure(new HandlerFailedError(seq, queue, err));
      await new Promise((r) => setTimeout(r, o.retryDelayMs));
      session.requeue(msg);
      return;
    }
    // the record first, then the ack: a crash in between means a redelivery, which the record turns into a skip
    o.processed.add(seq);
    o.counters.processed++;
    o.onProcessed(seq, queue);
    session.ack(msg);
  }
}
