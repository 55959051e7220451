/**
 * The JetStream event log once open (jetstream-log.ts opens it): compare-and-set appends, in-order reads of one
 * stream or all of them, listing, the live tail (jetstream-watch.ts) and compaction. Where each stream's events
 * sit is stream-locator.ts; how a stored message becomes an envelope is stored-event-decoder.ts.
 *
 * Appends are compare-and-set: `expect.lastSubjectSequence` is the stream sequence of the stream's last event
 * (0 = none) and `msgID = "<subject>:<seq>"` makes a retried append after a lost ack a recognised duplicate.
 */

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { type EventEnvelope, keyText, type NewEvent, type StreamKey, storedEnvelope } from '../../machines/envelope.ts';
import {
  assertKind,
  assertStreamKey,
  CorruptEventError,
  compareKeys,
  StaleWriterError,
  type WatchOptions,
} from '../event-log/port.ts';
import { isSameEvent } from '../event-log/same-event.ts';
import { encodeEnvelope } from './jetstream.wire.ts';
import { isWrongLastSequence, reportedLastSequence, unavailable } from './jetstream-errors.ts';
import type { JetStreamLog } from './jetstream-log.ts';
import { watchJetStream } from './jetstream-watch.ts';
import { StoredEventDecoder } from './stored-event-decoder.ts';
import { StreamLocator } from './stream-locator.ts';
import { type RawStored, readStream } from './stream-reader.ts';
import { type StreamSubject, streamOfSubject } from './subject.ts';

/** A stream's last appended or read event: its seq and the stream sequence it is stored at. */
interface Tail {
  seq: number;
  streamSeq: number;
}

/** What an open JetStream log is made of (openJetStreamLog builds it). */
export interface JetStreamLogParts {
  nc: NatsConnection;
  jsm: JetStreamManager;
  js: JetStreamClient;
  /** Stream name. */
  stream: string;
  /** Subject prefix. */
  prefix: string;
  /** Publish ack timeout in ms. */
  timeout: number;
  log: Logger;
  /** Refuse `append` and `compact`. */
  readOnly?: boolean;
}

/** The JetStream log over an open connection; `readOnly` refuses every write. */
export class JetStreamEventLog implements JetStreamLog {
  private readonly nc: NatsConnection;
  private readonly jsm: JetStreamManager;
  private readonly js: JetStreamClient;
  private readonly stream: string;
  private readonly prefix: string;
  private readonly timeout: number;
  private readonly log: Logger;
  /** keyText -> the stream's last appended or read event. */
  private readonly tails = new Map<string, Tail>();
  private readonly locator: StreamLocator;
  private readonly decoder: StoredEventDecoder;
  private readonly readOnly: boolean;

  constructor(o: JetStreamLogParts) {
    this.nc = o.nc;
    this.jsm = o.jsm;
    this.js = o.js;
    this.stream = o.stream;
    this.prefix = o.prefix;
    this.timeout = o.timeout;
    this.log = o.log;
    this.readOnly = o.readOnly ?? false;
    this.locator = new StreamLocator(o.jsm, o.stream, o.prefix);
    this.decoder = new StoredEventDecoder(o.prefix);
  }

  private assertWritable(what: string): void {
    if (this.readOnly) throw new TypeError(`${what}: the JetStream log ${this.stream} was opened read-only`);
  }

  async append(key: StreamKey, event: NewEvent, expectSeq: number): Promise<EventEnvelope> {
    this.assertWritable('append');
    assertStreamKey(key);
    if (!Number.isInteger(expectSeq) || expectSeq < 0) throw new TypeError('expectSeq must be an integer >= 0');
    const env = storedEnvelope(key, expectSeq + 1, event);
    const k = keyText(key);
    const known = this.locator.known(key);
    const cached = this.tails.get(k);
    let where: StreamSubject;
    let expectStreamSeq = 0;
    if (known && cached?.seq === expectSeq) {
      where = known;
      expectStreamSeq = cached.streamSeq;
    } else if (expectSeq === 0 && !known && !(await this.locator.hasLegacyStream(key))) {
      where = this.locator.currentSubject(key); // the CAS says if it is taken
    } else {
      const found = await this.locator.find(key);
      where = found.where;
      const last = found.last && this.decoder.decode(found.last, found.where);
      const lastSeq = last?.seq ?? 0;
      if (lastSeq > expectSeq) return this.storedRetry(key, env, expectSeq, lastSeq);
      if (lastSeq !== expectSeq) throw new StaleWriterError(key, expectSeq, lastSeq);
      expectStreamSeq = found.last?.seq ?? 0;
    }
    try {
      const ack = await this.js.publish(where.subject, encodeEnvelope(env, where.format), {
        msgID: `${where.subject}:${env.seq}`,
        expect: { lastSubjectSequence: expectStreamSeq },
        timeout: this.timeout,
      });
      let stored = env;
      if (ack.duplicate) {
        const msg = await this.jsm.streams.getMessage(this.stream, { seq: ack.seq });
        const found = msg ? this.decoder.decode(msg, where, env.seq) : undefined;
        if (!found || !isSameEvent(found, env)) {
          throw new StaleWriterError(key, expectSeq, (await this.lastStored(key).catch(() => null))?.seq);
        }
        this.log.debug({ kind: key.kind, id: key.id, seq: env.seq }, 'Recognised a retried append as duplicate');
        stored = found; // answer with what is stored, as every log does
      }
      this.locator.remember(key, where);
      this.tails.set(k, { seq: env.seq, streamSeq: ack.seq });
      return stored;
    } catch (err) {
      if (err instanceof StaleWriterError || err instanceof CorruptEventError) throw err;
      if (isWrongLastSequence(err)) {
        this.tails.delete(k);
        const last = await this.lastStored(key).catch(() => null);
        if (last && last.seq >= env.seq) return this.storedRetry(key, env, expectSeq, last.seq); // ack lost
        throw new StaleWriterError(key, expectSeq, last?.seq ?? reportedLastSequence(err), err);
      }
      throw unavailable(`append to ${where.subject}`, err);
    }
  }

  async read(key: StreamKey, fromSeq = 1): Promise<EventEnvelope[]> {
    assertStreamKey(key);
    const out: EventEnvelope[] = [];
    const { where, last } = await this.locator.find(key); // the last message is decoded below, in order
    if (!last) return out;
    const next = this.decoder.chain();
    for await (const batch of this.drain(where.subject, last.seq, `read ${keyText(key)}`)) {
      for (const m of batch) {
        const env = next(m, 1); // a stream's subject holds seq 1, 2, 3... (compaction removes all of them)
        this.tails.set(keyText(key), { seq: env.seq, streamSeq: m.streamSeq });
        if (env.seq >= fromSeq) out.push(env);
      }
    }
    return out;
  }

  async *readAll(): AsyncIterable<EventEnvelope> {
    let last: number;
    try {
      const info = await this.jsm.streams.info(this.stream);
      if (info.state.messages === 0) return;
      last = info.state.last_seq;
    } catch (err) {
      throw unavailable('read all', err);
    }
    const next = this.decoder.chain();
    for await (const batch of this.drain(`${this.prefix}.>`, last, 'read all')) {
      for (const m of batch) yield next(m, 1);
    }
  }

  async list(kind?: string): Promise<StreamKey[]> {
    if (kind !== undefined) assertKind(kind);
    let subjects: string[];
    try {
      const info = await this.jsm.streams.info(this.stream, { subjects_filter: `${this.prefix}.>` });
      subjects = Object.keys(info.state.subjects ?? {});
    } catch (err) {
      throw unavailable('list streams', err);
    }
    const keys = new Map<string, StreamKey>();
    for (const s of subjects) {
      const stream = streamOfSubject(this.prefix, s);
      if (stream && (kind === undefined || stream.key.kind === kind)) keys.set(keyText(stream.key), stream.key);
    }
    return [...keys.values()].sort(compareKeys);
  }

  watch(o: WatchOptions = {}): AsyncIterable<EventEnvelope> {
    const { js, jsm, stream, prefix, locator, decoder } = this;
    return watchJetStream({ js, jsm, stream, prefix, locator, decoder }, o);
  }

  /** `nats:<stream>/<subject>`: the subject the stream is known to be on, else its current-layout subject. */
  locate(key: StreamKey): string {
    assertStreamKey(key);
    const where = (this.locator.known(key) ?? this.locator.currentSubject(key)).subject;
    return `nats:${this.stream}/${where}`;
  }

  async compact(key: StreamKey): Promise<number> {
    this.assertWritable('compact');
    assertStreamKey(key);
    const { where } = await this.locator.find(key);
    try {
      const res = await this.jsm.streams.purge(this.stream, { filter: where.subject });
      this.tails.delete(keyText(key));
      this.locator.forget(key);
      this.log.info({ kind: key.kind, id: key.id, purged: res.purged }, 'Compacted event log of finished stream');
      return res.purged;
    } catch (err) {
      throw unavailable(`compact ${keyText(key)}`, err);
    }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }

  /** The last stored event of `key`; when it is corrupt, its seq is named by counting the subject's messages. */
  private async lastStored(key: StreamKey): Promise<EventEnvelope | null> {
    const { where, last } = await this.locator.find(key);
    if (!last) return null;
    try {
      return this.decoder.decode(last, where);
    } catch (err) {
      if (!(err instanceof CorruptEventError) || err.details.seq !== undefined) throw err;
      const count = await this.messagesOf(where.subject).catch(() => undefined);
      return this.decoder.decode(last, where, count); // throws again, naming the seq
    }
  }

  /** How many messages `subject` holds (its events are seq 1..n: compaction removes all of them at once). */
  private async messagesOf(subject: string): Promise<number | undefined> {
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: subject });
    return info.state.subjects?.[subject];
  }

  /** Everything stored under `filter` up to stream seq `last`, in order (see stream-reader.ts). */
  private drain(filter: string, last: number, what: string): AsyncGenerator<RawStored[]> {
    return readStream(this.nc, this.jsm, this.stream, filter, last, Math.max(this.timeout, 5000), (why) =>
      unavailable(what, new Error(why)),
    );
  }

  /** The caller is behind the tail: fine only if its event is the one stored at its seq (a retry after a lost ack). */
  private async storedRetry(
    key: StreamKey,
    env: EventEnvelope,
    expectSeq: number,
    tail: number,
  ): Promise<EventEnvelope> {
    const [stored] = await this.read(key, env.seq);
    if (stored?.seq === env.seq && isSameEvent(stored, env)) return stored;
    throw new StaleWriterError(key, expectSeq, tail);
  }
}
