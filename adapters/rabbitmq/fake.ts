import type { Clock } from '../clock/port.ts';
import { EffectJournal, type FaultPlan, faulty, noFaults } from '../effect-journal.ts';
import { NotFoundError } from '../errors.ts';
import {
  type Broker,
  type BrokerConfig,
  type ControlMessage,
  controlQueueName,
  type QueueDepth,
  replayQueueName,
} from './port.ts';

interface FakeQueue {
  name: string;
  bound: boolean;
  /** Messages waiting (fractional while rates integrate). */
  depth: number;
  consuming: boolean;
  updatedAt: number;
  /** When the queue was declared (clock ms). */
  createdAt: number;
}

export interface FakeBrokerOptions {
  clock: Clock;
  faults?: FaultPlan;
  journal?: EffectJournal;
  /** Producer rate lambda into the exchange (msg/s). */
  producerRate?: number;
  /** Consumer rate mu of a replaying target (msg/s); 0 simulates a target that never consumes. */
  consumerRate?: number;
  /**
   * Messages in the primary queue, not yet delivered to the source, when the replay queue is bound (default 0);
   * the source takes them at `sourceRate` msg/s (default 10; 0: a source that never takes them).
   */
  primaryBacklog?: number;
  sourceRate?: number;
  /** False: a target that ignores END_REPLAY (stuck) and never switches to its primary queue (default true). */
  targetSwitches?: boolean;
}

/**
 * An in-memory broker: exchanges, bindings, control queues, and replay-queue depth that integrates the producer
 * rate (while bound) and the consumer rate (after START_REPLAY) over clock time. Mutations are idempotent and
 * journalled with their keys.
 *
 * @example
 * ```ts
 * const broker = new FakeBroker({ clock, producerRate: 20, consumerRate: 50 });
 * ```
 */
export class FakeBroker implements Broker {
  readonly journal: EffectJournal;
  readonly exchanges = new Set<string>();
  readonly queues = new Map<string, FakeQueue>();
  readonly control = new Map<string, ControlMessage[]>();
  private readonly faults: FaultPlan;

  constructor(private readonly opts: FakeBrokerOptions) {
    this.journal = opts.journal ?? new EffectJournal(opts.clock);
    this.faults = opts.faults ?? noFaults;
  }

  private ctx() {
    return { clock: this.opts.clock, faults: this.faults, journal: this.journal };
  }

  private integrate(q: FakeQueue): void {
    const now = this.opts.clock.now();
    const dt = Math.max(0, now - q.updatedAt) / 1000;
    const inflow = q.bound ? (this.opts.producerRate ?? 0) * dt : 0;
    const outflow = q.consuming ? (this.opts.consumerRate ?? 0) * dt : 0;
    q.depth = Math.max(0, q.depth + inflow - outflow);
    q.updatedAt = now;
  }

  async ensureTopology(cfg: BrokerConfig, key: string): Promise<void> {
    await faulty(this.ctx(), 'ensureTopology', key, cfg.exchangeName, () => {
      const applied = !this.exchanges.has(cfg.exchangeName) || !this.queues.has(cfg.queueName);
      this.exchanges.add(cfg.exchangeName);
      if (!this.queues.has(cfg.queueName)) {
        this.queues.set(cfg.queueName, {
          name: cfg.queueName,
          bound: true,
          depth: 0,
          consuming: true,
          updatedAt: this.opts.clock.now(),
          createdAt: this.opts.clock.now(),
        });
      }
      return { applied, value: undefined };
    });
  }

  async createReplayQueue(cfg: BrokerConfig, key: string): Promise<string> {
    const name = replayQueueName(cfg.queueName);
    return faulty(this.ctx(), 'createReplayQueue', key, name, () => {
      if (!this.exchanges.has(cfg.exchangeName))
        throw new NotFoundError('Exchange', cfg.exchangeName, 'declare the topology first');
      if (this.queues.has(name)) return { applied: false, value: name };
      const now = this.opts.clock.now();
      this.queues.set(name, { name, bound: true, depth: 0, consuming: false, updatedAt: now, createdAt: now });
      return { applied: true, value: name };
    });
  }

  async unbindReplayQueue(cfg: BrokerConfig, key: string): Promise<void> {
    const name = replayQueueName(cfg.queueName);
    await faulty(this.ctx(), 'unbindReplayQueue', key, name, () => {
      const q = this.queues.get(name);
      if (!q?.bound) return { applied: false, value: undefined };
      this.integrate(q);
      q.bound = false;
      return { applied: true, value: undefined };
    });
  }

  async deleteReplayQueue(cfg: BrokerConfig, key: string): Promise<void> {
    const name = replayQueueName(cfg.queueName);
    await faulty(this.ctx(), 'deleteReplayQueue', key, name, () => ({
      applied: this.queues.delete(name),
      value: undefined,
    }));
  }

  async sendControl(cfg: BrokerConfig, pod: string, message: ControlMessage, key: string): Promise<void> {
    const queue = controlQueueName(pod);
    await faulty(this.ctx(), `control:${message.type}`, key, queue, () => {
      const sent = this.control.get(queue) ?? [];
      // the real adapter derives the message id from the key: a re-send is deduplicated by the consumer
      if (sent.some((m) => JSON.stringify(m) === JSON.stringify(message))) return { applied: false, value: undefined };
      sent.push(message);
      this.control.set(queue, sent);
      const replay = this.queues.get(replayQueueName(cfg.queueName));
      if (replay && message.type === 'START_REPLAY') {
        this.integrate(replay);
        replay.consuming = true;
      }
      const primary = this.queues.get(cfg.queueName);
      // END_REPLAY: the target leaves the replay queue for its primary queue
      const switches = message.type === 'END_REPLAY' && this.opts.targetSwitches !== false;
      if (replay && switches) {
        this.integrate(replay);
        replay.consuming = false;
      }
      if (primary && switches) primary.consuming = true;
      if (primary && message.type === 'STOP_CONSUMING') primary.consuming = false;
      if (primary && message.type === 'RESUME_CONSUMING') primary.consuming = true;
      return { applied: true, value: undefined };
    });
  }

  async depth(cfg: BrokerConfig, queue: string): Promise<QueueDepth> {
    const outcome = this.faults('depth', queue);
    if (outcome.kind === 'transient' || outcome.kind === 'permanent') {
      await faulty(this.ctx(), 'depth', queue, queue, () => ({ applied: false, value: undefined }));
    }
    const q = this.queues.get(queue);
    if (!q) throw new NotFoundError('Queue', queue, `declare it on exchange ${cfg.exchangeName} first`);
    this.integrate(q);
    const depth = Math.max(0, Math.ceil(q.depth - 1e-9));
    // a consumer holds up to a prefetch of 10 unacked; one that consumes nothing (rate 0) holds none
    const unacked = q.consuming && (this.opts.consumerRate ?? 0) > 0 ? Math.min(depth, 10) : 0;
    return {
      depth,
      ready: depth - unacked,
      unacked,
      consumerRate: q.consuming ? (this.opts.consumerRate ?? 0) : 0,
      producerRate: q.bound ? (this.opts.producerRate ?? 0) : 0,
      settled: true,
    };
  }

  async undeliveredBeforeReplay(cfg: BrokerConfig): Promise<number> {
    const replay = this.queues.get(replayQueueName(cfg.queueName));
    if (!replay) throw new NotFoundError('Queue', replayQueueName(cfg.queueName), 'create the replay queue first');
    if (!this.queues.has(cfg.queueName))
      throw new NotFoundError('Queue', cfg.queueName, `declare it on exchange ${cfg.exchangeName} first`);
    const backlog = this.opts.primaryBacklog ?? 0;
    const taken = ((this.opts.sourceRate ?? 10) * Math.max(0, this.opts.clock.now() - replay.createdAt)) / 1000;
    return Math.max(0, Math.ceil(backlog - taken - 1e-9));
  }

  async consumerCount(_cfg: BrokerConfig, queue: string): Promise<number | null> {
    const q = this.queues.get(queue);
    return q ? (q.consuming ? 1 : 0) : null;
  }

  async close(): Promise<void> {}

  toJSON() {
    return { exchanges: [...this.exchanges], queues: [...this.queues.values()], control: [...this.control.entries()] };
  }
  load(state: ReturnType<FakeBroker['toJSON']>): void {
    for (const e of state.exchanges) this.exchanges.add(e);
    // a state saved before createdAt existed: the queue counts as declared at load time
    for (const q of state.queues) this.queues.set(q.name, { ...q, createdAt: q.createdAt ?? this.opts.clock.now() });
    for (const [k, v] of state.control) this.control.set(k, v);
  }
}
