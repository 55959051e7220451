/**
 * The UI's view of the log: every instance of a drawable chart with its events, kept current by following the
 * log (`watch`), read-only. Listeners hear of each stream that changed (the server turns that into server-sent
 * events).
 */
import type { Logger } from 'pino';
import type { EventLogReader } from '../../adapters/event-log/port.ts';
import { type EventEnvelope, keyText, type StreamKey } from '../../machines/envelope.ts';
import { DIAGRAM_CHARTS } from './log-source.ts';

export interface StoredInstance {
  key: StreamKey;
  events: EventEnvelope[];
}

export class InstanceStore {
  private readonly streams = new Map<string, StoredInstance>();
  private readonly listeners = new Set<(key: StreamKey) => void>();
  private readonly stopWatch = new AbortController();
  private following: Promise<void> = Promise.resolve();

  private constructor(
    private readonly reader: EventLogReader,
    private readonly logger: Logger,
  ) {}

  /**
   * Reads the whole log and follows it until `close()`. The watch starts before the read, so no event falls
   * between them; what both yield is taken once (by seq).
   *
   * @example
   * ```ts
   * const store = await InstanceStore.open(reader, logger);
   * store.onChange((key) => console.log('changed', key.id));
   * ```
   */
  static async open(reader: EventLogReader, logger: Logger): Promise<InstanceStore> {
    const store = new InstanceStore(reader, logger);
    const watch = reader.watch({ signal: store.stopWatch.signal });
    for await (const env of reader.readAll()) {
      if (!DIAGRAM_CHARTS.has(env.kind)) continue;
      const k = keyText(env);
      const s = store.streams.get(k);
      if (s) s.events.push(env);
      else store.streams.set(k, { key: { kind: env.kind, id: env.id }, events: [env] });
    }
    store.following = store.follow(watch);
    return store;
  }

  private async follow(watch: AsyncIterable<EventEnvelope>): Promise<void> {
    try {
      for await (const env of watch) {
        if (!DIAGRAM_CHARTS.has(env.kind)) continue;
        try {
          if (await this.take(env)) for (const l of this.listeners) l({ kind: env.kind, id: env.id });
        } catch (err) {
          this.logger.warn({ err: (err as Error).message, kind: env.kind, id: env.id }, 'Could not follow a stream');
        }
      }
    } catch (err) {
      if (!this.stopWatch.signal.aborted)
        this.logger.error({ err: (err as Error).message }, 'Stopped following the event log');
    }
  }

  /** Adds one watched event; true when the stream changed. */
  private async take(env: EventEnvelope): Promise<boolean> {
    const k = keyText(env);
    const s = this.streams.get(k);
    const last = s?.events.at(-1)?.seq ?? 0;
    if (env.seq <= last) return false;
    if (env.seq === last + 1) {
      if (s) s.events.push(env);
      else this.streams.set(k, { key: { kind: env.kind, id: env.id }, events: [env] });
      return true;
    }
    // a gap (the read ended before the watch began for this stream): read what is missing
    const key = { kind: env.kind, id: env.id };
    const missing = await this.reader.read(key, last + 1);
    const events = [...(s?.events ?? []), ...missing.filter((e) => e.seq > last)];
    this.streams.set(k, { key, events });
    return true;
  }

  /** Every instance, newest first. */
  list(): StoredInstance[] {
    return [...this.streams.values()].sort((a, b) =>
      a.events[0]!.at === b.events[0]!.at
        ? keyText(a.key).localeCompare(keyText(b.key))
        : a.events[0]!.at < b.events[0]!.at
          ? 1
          : -1,
    );
  }

  get(key: StreamKey): StoredInstance | undefined {
    return this.streams.get(keyText(key));
  }

  /** Calls `listener` with each stream that changed; returns the unsubscribe function. */
  onChange(listener: (key: StreamKey) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops following the log (the reader stays open: its owner closes it). */
  async close(): Promise<void> {
    this.stopWatch.abort();
    await this.following;
  }
}
