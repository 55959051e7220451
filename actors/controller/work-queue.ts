/**
 * The controller's work queue: level-triggered, one run in flight per key (client-go's workqueue semantics).
 * Adding a key that is queued is a no-op; adding a key that is running marks it dirty, so it runs once more
 * after the current run; a failed run is retried with per-key exponential backoff. Different keys run in
 * parallel up to `concurrency`.
 */
import type { Logger } from 'pino';

export interface WorkQueueOptions {
  concurrency: number;
  logger: Logger;
  /** First retry delay after a failure (ms); doubles per consecutive failure of the key, capped at maxBackoffMs. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * @example
 * ```ts
 * const queue = new WorkQueue((key) => reconcile(key), { concurrency: 4, logger });
 * queue.add('default/m1');
 * await queue.shutdown();
 * ```
 */
export class WorkQueue {
  private readonly queued: string[] = [];
  private readonly queuedSet = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly run: (key: string) => Promise<void>,
    private readonly o: WorkQueueOptions,
  ) {}

  /** Queues `key` (now, or after `delayMs`). */
  add(key: string, delayMs = 0): void {
    if (this.closed) return;
    if (delayMs > 0) {
      if (this.timers.has(key)) return;
      const t = setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, delayMs);
      this.timers.set(key, t);
      return;
    }
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queuedSet.has(key)) return;
    this.queuedSet.add(key);
    this.queued.push(key);
    this.pump();
  }

  get length(): number {
    return this.queued.length + this.running.size;
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.o.concurrency && this.queued.length > 0) {
      const key = this.queued.shift() as string;
      this.queuedSet.delete(key);
      this.running.add(key);
      void this.process(key);
    }
    if (this.queued.length === 0 && this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async process(key: string): Promise<void> {
    try {
      await this.run(key);
      this.failures.delete(key);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const delay = Math.min(this.o.maxBackoffMs ?? 60_000, (this.o.baseBackoffMs ?? 250) * 2 ** (n - 1));
      this.o.logger.warn(
        { key, err: (err as Error).message, code: (err as { code?: string }).code, retryInMs: delay },
        'Reconcile failed; retrying',
      );
      this.add(key, delay);
    } finally {
      this.running.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }

  /** Resolves when nothing is queued or running (timers for later retries may remain). */
  idle(): Promise<void> {
    if (this.queued.length === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work and drops what is queued; resolves when the runs in flight have ended. */
  async shutdown(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queued.length = 0;
    this.queuedSet.clear();
    this.dirty.clear();
    await this.idle();
  }
}
