/**
 * The event log on NATS JetStream: one stream, one subject per event stream (`<prefix>.<kind>.<id token>`, see
 * subject.ts), one message per event whose body is the envelope. Appends are compare-and-set:
 * `expect.lastSubjectSequence` is the stream sequence of the stream's last event (0 = none) and
 * `msgID = "<subject>:<seq>"` makes a retried append after a lost ack a recognised duplicate.
 *
 * A StatefulMigration logged before kinds existed sits on `<prefix>.<id token>` with legacy bodies: while that
 * subject holds events it is the migration's subject, read and appended to in its own format.
 */

import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type StoredMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { type EventEnvelope, keyText, LEGACY_KIND, type NewEvent, type StreamKey } from '../../machines/envelope.ts';
import { NotFoundError } from '../errors.ts';
import { checkEnvelope, decodeStored } from '../event-log/envelope-check.ts';
import {
  assertKind,
  assertStreamKey,
  CorruptEventError,
  compareKeys,
  type EventLog,
  type EventLogReader,
  StaleWriterError,
  type WatchOptions,
  watchFilter,
} from '../event-log/port.ts';
import { isSameEvent } from '../event-log/same-event.ts';
import { encodeEnvelope, streamConfig } from './jetstream.wire.ts';
import { isWrongLastSequence, reportedLastSequence, unavailable } from './jetstream-errors.ts';
import { type RawStored, readStream } from './stream-reader.ts';
import { legacySubject, type StreamSubject, streamOfSubject, streamSubject } from './subject.ts';

export interface JetStreamLogOptions {
  /** `nats://host:port`, or several. */
  servers: string | string[];
  /** Stream name (default `MS2M_EVENTS`). */
  stream?: string;
  /** Subject prefix (default `ms2m.events`). */
  subjectPrefix?: string;
  logger: Logger;
  /** Publish ack timeout in ms (default 5000); an append that times out fails with EventLogUnavailableError. */
  timeoutMs?: number;
  /**
   * Open for reading only (`ms2m logs`, analysis): the stream must exist (NotFoundError otherwise) and is never
   * created or updated; `append` and `compact` are refused. See {@link openJetStreamLogReader}.
   */
  readOnly?: boolean;
}

/** The JetStream log: the port plus compaction of a finished stream. */
export interface JetStreamLog extends EventLog {
  /** Removes every stored event of a finished (and archived) stream. Its key disappears from `list()`. */
  compact(key: StreamKey): Promise<number>;
}

const CORRUPT_FIX =
  'the stream was changed outside ms2m: restore it from a backup (ms2m never rewrites or drops a stored event)';

/**
 * Connects to NATS, creates (or updates) the stream and returns the log.
 *
 * @example
 * ```ts
 * const log = await openJetStreamLog({ servers: 'nats://127.0.0.1:4222', logger });
 * const ev = await log.append({ kind: 'StatefulMigration', id: 'default/m1' }, { type: 'MigrationRequested',
 *   at: new Date().toISOString(), machineVersion: 1, data: {} }, 0); // ev.seq === 1
 * for await (const e of log.readAll()) console.log(e.kind, e.id, e.seq);
 * await log.close();
 * ```
 */
export async function openJetStreamLog(opts: JetStreamLogOptions): Promise<JetStreamLog> {
  const stream = opts.stream ?? 'MS2M_EVENTS';
  const prefix = opts.subjectPrefix ?? 'ms2m.events';
  const timeout = opts.timeoutMs ?? 5000;
  const log = opts.logger.child({ component: 'jetstream-log', stream });
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: opts.servers, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout });
  } catch (err) {
    throw unavailable(`connect to ${String(opts.servers)}`, err);
  }
  void (async () => {
    for await (const s of nc.status()) log.debug({ status: s.type }, 'NATS connection status changed');
  })().catch(() => {});
  const jsm: JetStreamManager = await jetstreamManager(nc, { timeout });
  const js: JetStreamClient = jetstream(nc, { timeout });
  const cfg = streamConfig(stream, prefix);
  if (opts.readOnly) {
    try {
      await jsm.streams.info(stream);
    } catch (err) {
      await nc.close();
      if (err instanceof Error && /stream not found/i.test(err.message))
        throw new NotFoundError(
          'JetStream stream',
          `${stream} on ${String(opts.servers)}`,
          'no ms2m event log there: check the NATS URL and the stream name (reading never creates it)',
          err,
        );
      throw unavailable('stream lookup', err);
    }
    return new JetStreamEventLog({ nc, jsm, js, stream, prefix, timeout, log, readOnly: true });
  }
  try {
    await jsm.streams.info(stream);
    await jsm.streams.update(stream, cfg);
  } catch (err) {
    if (!(err instanceof Error) || !/stream not found/i.test(err.message)) throw unavailable('stream setup', err);
    await jsm.streams.add(cfg);
  }
  log.info({ subjects: cfg.subjects }, 'Opened JetStream event log');
  return new JetStreamEventLog({ nc, jsm, js, stream, prefix, timeout, log });
}

interface Tail {
  seq: number;
  streamSeq: number;
}

/** One stream's subject and its last stored message (null: no events yet). */
interface Located {
  where: StreamSubject;
  last: StoredMsg | null;
}

class JetStreamEventLog implements JetStreamLog {
  private readonly nc: NatsConnection;
  private readonly jsm: JetStreamManager;
  private readonly js: JetStreamClient;
  private readonly stream: string;
  private readonly prefix: string;
  private readonly timeout: number;
  private readonly log: Logger;
  /** keyText -> the stream's last appended or read event. */
  private readonly tails = new Map<string, Tail>();
  /** keyText -> the stream's subject, once it is known to hold events. */
  private readonly located = new Map<string, StreamSubject>();
  /** subject -> its stream, so a rebuild decodes each subject once. */
  private readonly subjects = new Map<string, StreamSubject>();
  private readonly readOnly: boolean;

  constructor(o: {
    nc: NatsConnection;
    jsm: JetStreamManager;
    js: JetStreamClient;
    stream: string;
    prefix: string;
    timeout: number;
    log: Logger;
    readOnly?: boolean;
  }) {
    this.nc = o.nc;
    this.jsm = o.jsm;
    this.js = o.js;
    this.stream = o.stream;
    this.prefix = o.prefix;
    this.timeout = o.timeout;
    this.log = o.log;
    this.readOnly = o.readOnly ?? false;
  }

  private assertWritable(what: string): void {
    if (this.readOnly) throw new TypeError(`${what}: the JetStream log ${this.stream} was opened read-only`);
  }

  async append(key: StreamKey, event: NewEvent, expectSeq: number): Promise<EventEnvelope> {
    this.assertWritable('append');
    assertStreamKey(key);
    if (!Number.isInteger(expectSeq) || expectSeq < 0) throw new TypeError('expectSeq must be an integer >= 0');
    const env: EventEnvelope = {
      kind: key.kind,
      id: key.id,
      seq: expectSeq + 1,
      type: event.type,
      at: event.at,
      machineVersion: event.machineVersion,
      data: event.data,
    };
    const k = keyText(key);
    const known = this.located.get(k);
    const cached = this.tails.get(k);
    let where: StreamSubject;
    let expectStreamSeq = 0;
    if (known && cached?.seq === expectSeq) {
      where = known;
      expectStreamSeq = cached.streamSeq;
    } else if (expectSeq === 0 && !known && !(await this.hasLegacyStream(key))) {
      where = { subject: streamSubject(this.prefix, key), key, format: 'current' }; // the CAS says if it is taken
    } else {
      const found = await this.findStream(key);
      where = found.where;
      const last = found.last && this.decode(found.last, found.where);
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
        const found = msg ? this.decode(msg, where, env.seq) : undefined;
        if (!found || !isSameEvent(found, env)) {
          throw new StaleWriterError(key, expectSeq, (await this.lastStored(key).catch(() => null))?.seq);
        }
        this.log.debug({ kind: key.kind, id: key.id, seq: env.seq }, 'Recognised a retried append as duplicate');
        stored = found; // answer with what is stored, as every log does
      }
      this.located.set(k, where);
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
    const { where, last } = await this.findStream(key); // the last message is decoded below, in order
    if (!last) return out;
    const next = this.chain();
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
    const next = this.chain();
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
    const match = watchFilter(o);
    // starts now: everything after the stream's current last sequence (asked at once, awaited on iteration)
    const startSeq = this.jsm.streams.info(this.stream).then((i) => i.state.last_seq + 1);
    startSeq.catch(() => {});
    // one stream: its subject (the legacy one when it holds the migration); a kind of the current layout: its
    // subjects; otherwise everything, filtered here (nats-server 2.9 takes one filter per consumer)
    const filter: Promise<string> =
      o.kind !== undefined && o.id !== undefined
        ? this.findStream({ kind: o.kind, id: o.id }).then((l) => l.where.subject)
        : Promise.resolve(
            o.kind !== undefined && o.kind !== LEGACY_KIND ? `${this.prefix}.${o.kind}.*` : `${this.prefix}.>`,
          );
    filter.catch(() => {});
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        if (o.signal?.aborted) return;
        const consumer = await self.js.consumers.get(self.stream, {
          filter_subjects: await filter,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: await startSeq.catch((err) => Promise.reject(unavailable('watch', err))),
        });
        if (o.signal?.aborted) return;
        const msgs = await consumer.consume({ max_messages: 1000 });
        const stop = () => msgs.stop();
        o.signal?.addEventListener('abort', stop, { once: true });
        if (o.signal?.aborted) stop();
        const next = self.chain(); // joins mid-stream: the first seq of each stream is whatever comes next
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

  /** `nats:<stream>/<subject>`: the subject the stream is known to be on, else its current-layout subject. */
  locate(key: StreamKey): string {
    assertStreamKey(key);
    const where = this.located.get(keyText(key))?.subject ?? streamSubject(this.prefix, key);
    return `nats:${this.stream}/${where}`;
  }

  async compact(key: StreamKey): Promise<number> {
    this.assertWritable('compact');
    assertStreamKey(key);
    const { where } = await this.findStream(key);
    try {
      const res = await this.jsm.streams.purge(this.stream, { filter: where.subject });
      this.tails.delete(keyText(key));
      this.located.delete(keyText(key));
      this.log.info({ kind: key.kind, id: key.id, purged: res.purged }, 'Compacted event log of finished stream');
      return res.purged;
    } catch (err) {
      throw unavailable(`compact ${keyText(key)}`, err);
    }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }

  /**
   * Where stream `key` is, with its last stored message: its current-layout subject when that holds events;
   * for a StatefulMigration, else its legacy subject when that holds events; else its (empty) current subject.
   */
  private async findStream(key: StreamKey): Promise<Located> {
    const k = keyText(key);
    const known = this.located.get(k);
    if (known) return { where: known, last: await this.lastMessage(known.subject) };
    const current: StreamSubject = { subject: streamSubject(this.prefix, key), key, format: 'current' };
    const last = await this.lastMessage(current.subject);
    if (last || key.kind !== LEGACY_KIND) return this.found(k, current, last);
    const legacy: StreamSubject = { subject: legacySubject(this.prefix, key.id), key, format: 'legacy' };
    const legacyLast = await this.lastMessage(legacy.subject);
    return legacyLast ? this.found(k, legacy, legacyLast) : { where: current, last: null };
  }

  /** True when `key` is a StatefulMigration whose legacy subject holds events (checked when it starts). */
  private async hasLegacyStream(key: StreamKey): Promise<boolean> {
    if (key.kind !== LEGACY_KIND) return false;
    const subject = legacySubject(this.prefix, key.id);
    const last = await this.lastMessage(subject);
    if (last) this.located.set(keyText(key), { subject, key, format: 'legacy' });
    return last !== null;
  }

  private found(k: string, where: StreamSubject, last: StoredMsg | null): Located {
    if (last) this.located.set(k, where);
    return { where, last };
  }

  /** The stream a subject holds (cached); a subject under the prefix that names no stream is corruption. */
  private streamOf(subject: string, streamSeq: number): StreamSubject {
    let s = this.subjects.get(subject);
    if (s === undefined) {
      const decoded = streamOfSubject(this.prefix, subject);
      if (!decoded) {
        throw new CorruptEventError({ kind: 'Unknown', id: subject }, undefined, 'subject names no event stream', {
          streamSeq,
          fix: `${CORRUPT_FIX}; only ms2m publishes under ${this.prefix}.>`,
        });
      }
      s = decoded;
      if (this.subjects.size < 100_000) this.subjects.set(subject, s);
    }
    return s;
  }

  /**
   * Decodes and checks one stored message: strict UTF-8, JSON, envelope shape in its subject's format, the stream
   * of its subject and, when `expectedSeq` is known, its place in the seq chain. Anything else is a
   * CorruptEventError naming the stream, the seq and the stream seq.
   */
  private decode(msg: { data: Uint8Array; seq: number }, where: StreamSubject, expectedSeq?: number): EventEnvelope {
    const w = { streamSeq: msg.seq, fix: CORRUPT_FIX };
    return checkEnvelope(decodeStored(msg.data, where.key, expectedSeq, w), where.key, expectedSeq, where.format, w);
  }

  /** Per-stream seq chain of a stream read in order: each message must hold the next seq of its stream. */
  private chain(): (m: RawStored, first?: number) => EventEnvelope {
    const last = new Map<string, number>();
    return (m, first) => {
      const where = this.streamOf(m.subject, m.streamSeq);
      const prev = last.get(m.subject);
      const env = this.decode({ data: m.data, seq: m.streamSeq }, where, prev === undefined ? first : prev + 1);
      last.set(m.subject, env.seq);
      return env;
    };
  }

  /** The last stored message on `subject`, undecoded. */
  private async lastMessage(subject: string): Promise<StoredMsg | null> {
    try {
      return await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
    } catch (err) {
      throw unavailable(`read last event of ${subject}`, err);
    }
  }

  /** The last stored event of `key`; when it is corrupt, its seq is named by counting the subject's messages. */
  private async lastStored(key: StreamKey): Promise<EventEnvelope | null> {
    const { where, last } = await this.findStream(key);
    if (!last) return null;
    try {
      return this.decode(last, where);
    } catch (err) {
      if (!(err instanceof CorruptEventError) || err.details.seq !== undefined) throw err;
      const count = await this.messagesOf(where.subject).catch(() => undefined);
      return this.decode(last, where, count); // throws again, naming the seq
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

/**
 * Opens a JetStream event log for reading only: it never creates or changes the stream (a missing stream is a
 * NotFoundError naming it), and the returned reader has no way to append.
 *
 * @example
 * ```ts
 * const reader = await openJetStreamLogReader({ servers: 'nats://127.0.0.1:4222', logger });
 * for (const key of await reader.list('StatefulMigration')) console.log(key.id);
 * await reader.close();
 * ```
 */
export function openJetStreamLogReader(opts: Omit<JetStreamLogOptions, 'readOnly'>): Promise<EventLogReader> {
  return openJetStreamLog({ ...opts, readOnly: true });
}
