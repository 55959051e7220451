/**
 * The live tail of the JetStream event log (`EventLog.watch`, jetstream-event-log.ts): an ordered consumer that
 * starts after the stream's last sequence at the time of the call and yields each new event that matches the
 * watch options, until the signal aborts.
 */

import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { type EventEnvelope, LEGACY_KIND } from '../../machines/envelope.ts';
import { type WatchOptions, watchFilter } from '../event-log/port.ts';
import { unavailable } from './jetstream-errors.ts';
import type { StoredEventDecoder } from './stored-event-decoder.ts';
import type { StreamLocator } from './stream-locator.ts';

/** The parts of an open JetStream log a watch reads from. */
export interface WatchSource {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Stream name. */
  stream: string;
  /** Subject prefix. */
  prefix: string;
  locator: StreamLocator;
  decoder: StoredEventDecoder;
}

/**
 * Every event appended to the stream from now on that matches `o`, in order. The start sequence and the subject
 * filter are asked for at once; the consumer is created when iteration starts.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * for await (const e of watchJetStream(source, { kind: 'StatefulMigration', signal: ac.signal })) console.log(e.seq);
 * ```
 */
export function watchJetStream(src: WatchSource, o: WatchOptions = {}): AsyncIterable<EventEnvelope> {
  const match = watchFilter(o);
  // starts now: everything after the stream's current last sequence (asked at once, awaited on iteration)
  const startSeq = src.jsm.streams.info(src.stream).then((i) => i.state.last_seq + 1);
  startSeq.catch(() => {});
  // one stream: its subject (the legacy one when it holds the migration); a kind of the current layout: its
  // subjects; otherwise everything, filtered here (nats-server 2.9 takes one filter per consumer)
  const filter: Promise<string> =
    o.kind !== undefined && o.id !== undefined
      ? src.locator.find({ kind: o.kind, id: o.id }).then((l) => l.where.subject)
      : Promise.resolve(
          o.kind !== undefined && o.kind !== LEGACY_KIND ? `${src.prefix}.${o.kind}.*` : `${src.prefix}.>`,
        );
  filter.catch(() => {});
  return {
    async *[Symbol.asyncIterator]() {
      if (o.signal?.aborted) return;
      const consumer = await src.js.consumers.get(src.stream, {
        filter_subjects: await filter,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: await startSeq.catch((err) => Promise.reject(unavailable('watch', err))),
      });
      if (o.signal?.aborted) return;
      const msgs = await consumer.consume({ max_messages: 1000 });
      const stop = () => msgs.stop();
      o.signal?.addEventListener('abort', stop, { once: true });
      if (o.signal?.aborted) stop();
      const next = src.decoder.chain(); // joins mid-stream: the first seq of each stream is whatever comes next
      try {
        for await (const m of msgs) {
          const env = next({ data: m.data, subject: m.subject, streamSeq: m.seq });
          if (match(env)) yield env;
        }
      } finally {
        o.signal?.removeEventListener('abort', stop);
        msgs.stop();
      }
    },
  };
}
