/**
 * List+watch of one resource type with the restarts client-node's informer leaves to its user: a watch that
 * ends (server timeout, network error) resumes from the last resourceVersion after a backoff, a 410 Gone relists,
 * and a periodic resync hands every known object to `onChange` again (level-triggered reconcile).
 */
import type { Logger } from 'pino';
import type { CustomResource, CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import { WatchExpiredError } from '../../adapters/kubernetes/custom-resources.ts';

export interface ResourceInformerOptions<T extends CustomResource> {
  client: Pick<CustomResourceClient<T['spec'], T['status']>, 'list' | 'watch'>;
  logger: Logger;
  resyncMs: number;
  onChange: (obj: T) => void;
  /** Called once, after the first list has been handed to onChange. */
  onSynced?: () => void;
  /** Backoff after a failed list/watch: base doubling to max (ms). */
  backoff?: { baseMs: number; maxMs: number };
}

/**
 * @example
 * ```ts
 * const informer = new ResourceInformer({ client, logger, resyncMs: 300_000, onChange: (m) => queue.add(key(m)) });
 * informer.start();
 * ```
 */
export class ResourceInformer<T extends CustomResource> {
  private readonly known = new Map<string, T>();
  private resourceVersion: string | null = null;
  private watch: { abort(): void } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private resync: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private synced = false;

  constructor(private readonly o: ResourceInformerOptions<T>) {}

  /** The newest version of an object seen by list or watch (`namespace/name`), if any. */
  get(key: string): T | undefined {
    return this.known.get(key);
  }

  start(): void {
    this.stopped = false;
    this.resync = setInterval(() => {
      for (const obj of this.known.values()) this.o.onChange(obj);
    }, this.o.resyncMs);
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.resync) clearInterval(this.resync);
    this.watch?.abort();
    this.watch = null;
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.resourceVersion === null) await this.list();
      if (this.stopped) return;
      const rv = this.resourceVersion as string;
      this.watch = await this.o.client.watch({
        resourceVersion: rv,
        onEvent: (type, obj) => {
          if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
          if (type === 'BOOKMARK') return;
          this.failures = 0;
          const k = `${obj.metadata.namespace}/${obj.metadata.name}`;
          if (type === 'DELETED') this.known.delete(k);
          else this.known.set(k, obj as T);
          this.o.onChange(obj as T);
        },
        onDone: (err) => this.restart(err),
      });
      if (this.stopped) this.watch.abort();
    } catch (err) {
      this.restart(err as Error);
    }
  }

  private async list(): Promise<void> {
    const { items, resourceVersion } = await this.o.client.list();
    const seen = new Set<string>();
    for (const obj of items) {
      const k = `${obj.metadata.namespace}/${obj.metadata.name}`;
      seen.add(k);
      this.known.set(k, obj as T);
      this.o.onChange(obj as T);
    }
    // objects deleted while we were not watching: their reconcile finds them gone
    for (const [k, obj] of this.known) {
      if (seen.has(k)) continue;
      this.known.delete(k);
      this.o.onChange(obj);
    }
    this.resourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      this.o.onSynced?.();
    }
  }

  private restart(err?: Error): void {
    this.watch = null;
    if (this.stopped) return;
    if (err instanceof WatchExpiredError) this.resourceVersion = null;
    if (!err) {
      // the server closes watches after a timeout: resume at once from the last version
      void this.run();
      return;
    }
    this.failures++;
    const { baseMs, maxMs } = this.o.backoff ?? { baseMs: 200, maxMs: 30_000 };
    const delay = Math.min(maxMs, baseMs * 2 ** (this.failures - 1));
    this.o.logger.warn({ err: err.message, retryInMs: delay }, 'Watch ended with an error; restarting');
    this.timer = setTimeout(() => void this.run(), delay);
  }
}
