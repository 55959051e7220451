/**
 * The event log on NATS JetStream: one stream, one subject per migration (`<prefix>.<encoded id>`), one message
 * per event whose body is the envelope. Appends are compare-and-set: `expect.lastSubjectSequence` is the stream
 * sequence of the migration's last event (0 = none) and `msgID = "<id>:<seq>"` makes a retried append after a
 * lost ack a recognised duplicate.
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
import type { EventEnvelope, NewEvent } from '../../machines/envelope.ts';
import { checkEnvelope, decodeStored } from '../event-log/envelope-check.ts';
import { CorruptEventError, type EventLog, StaleWriterError } from '../event-log/port.ts';
import { isSameEvent } from '../event-log/same-event.ts';
import { encodeEnvelope, streamConfig } from './jetstream.wire.ts';
import { isWrongLastSequence, reportedLastSequence, unavailable } from './jetstream-errors.ts';
import { readStream } from './stream-reader.ts';
import { migrationIdOfSubject, migrationSubject } from './subject.ts';

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
}

/** The JetStream log: the port plus compaction of a finished migration. */
export interface JetStreamLog extends EventLog {
  /** Removes every stored event of a finished (and archived) migration. Its id disappears from `list()`. */
  compact(migrationId: string): Promise<number>;
}

const CORRUPT_FIX =
  'the stream was changed outside ms2m: restore it from a backup (ms2m never rewrites or drops a stored event)';

interface Tail {
  seq: number;
  streamSeq: number;
}

/**
 * Connects to NATS, creates (or updates) the stream and returns the log.
 *
 * @example
 * ```ts
 * const log = await openJetStreamLog({ servers: 'nats://127.0.0.1:4222', logger });
 * const ev = await log.append('default/m1', { type: 'MigrationRequested', at: new Date().toISOString(),
 *   machineVersion: MACHINE_VERSION, data: {} }, 0); // ev.seq === 1
 * for await (const e of log.readAll()) console.log(e.migrationId, e.seq);
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
  try {
    await jsm.streams.info(stream);
    await jsm.streams.update(stream, cfg);
  } catch (err) {
    if (!(err instanceof Error) || !/stream not found/i.test(err.message)) throw unavailable('stream setup', err);
    await jsm.streams.add(cfg);
  }
  log.info({ subjects: cfg.subjects }, 'Opened JetStream event log');

  const tails = new Map<string, Tail>();
  const ids = new Map<string, string>(); // subject -> migration id, so a rebuild decodes each subject once
  const idOf = (subject: string): string => {
    let id = ids.get(subject);
    if (id === undefined) {
      id = migrationIdOfSubject(prefix, subject) ?? subject;
      if (ids.size < 100_000) ids.set(subject, id);
    }
    return id;
  };
  /**
   * Decodes and checks one stored message: strict UTF-8, JSON, envelope shape, the migration of its subject and,
   * when `expectedSeq` is known, its place in the seq chain. Anything else is a CorruptEventError naming the
   * migration, the seq and the stream seq.
   */
  const decode = (data: Uint8Array, subject: string, streamSeq: number, expectedSeq?: number): EventEnvelope => {
    const id = idOf(subject);
    const where = { streamSeq, fix: CORRUPT_FIX };
    return checkEnvelope(decodeStored(data, id, expectedSeq, where), id, expectedSeq, where);
  };
  /** Per-migration seq chain of a stream read in order: each message must hold the next seq of its migration. */
  const chain = () => {
    const last = new Map<string, number>();
    return (m: { data: Uint8Array; subject: string; streamSeq: number }, first?: number): EventEnvelope => {
      const prev = last.get(m.subject);
      const env = decode(m.data, m.subject, m.streamSeq, prev === undefined ? first : prev + 1);
      last.set(m.subject, env.seq);
      return env;
    };
  };
  /** The last stored message of `id`, undecoded. */
  const lastMessage = async (id: string): Promise<StoredMsg | null> => {
    try {
      return await jsm.streams.getMessage(stream, { last_by_subj: migrationSubject(prefix, id) });
    } catch (err) {
      throw unavailable(`read last event of ${id}`, err);
    }
  };
  /** The last stored event of `id`; when it is corrupt, its seq is named by counting the subject's messages. */
  const lastStored = async (id: string): Promise<{ env: EventEnvelope; msg: StoredMsg } | null> => {
    const msg = await lastMessage(id);
    if (!msg) return null;
    try {
      return { env: decode(msg.data, msg.subject, msg.seq), msg };
    } catch (err) {
      if (!(err instanceof CorruptEventError) || err.details.seq !== undefined) throw err;
      const count = await messagesOf(msg.subject).catch(() => undefined);
      return { env: decode(msg.data, msg.subject, msg.seq, count), msg }; // throws again, naming the seq
    }
  };
  /** How many messages `subject` holds (its events are seq 1..n: compaction removes all of them at once). */
  const messagesOf = async (subject: string): Promise<number | undefined> => {
    const info = await jsm.streams.info(stream, { subjects_filter: subject });
    return info.state.subjects?.[subject];
  };

  /** Everything stored under `filter` up to stream seq `last`, in order (see stream-reader.ts). */
  const drain = (filter: string, last: number, what: string) =>
    readStream(nc, jsm, stream, filter, last, Math.max(timeout, 5000), (why) => unavailable(what, new Error(why)));

  /** The caller is behind the tail: fine only if its event is the one stored at its seq (a retry after a lost ack). */
  const storedRetry = async (id: string, env: EventEnvelope, expectSeq: number, tail: number) => {
    const [stored] = await api.read(id, env.seq);
    if (stored?.seq === env.seq && isSameEvent(stored, env)) return stored;
    throw new StaleWriterError(id, expectSeq, tail);
  };

  const api: JetStreamLog = {
    async append(id: string, event: NewEvent, expectSeq: number): Promise<EventEnvelope> {
      const env: EventEnvelope = {
        migrationId: id,
        seq: expectSeq + 1,
        type: event.type,
        at: event.at,
        machineVersion: event.machineVersion,
        data: event.data,
      };
      const body = encodeEnvelope(env);
      const subject = migrationSubject(prefix, id);
      let expectStreamSeq = 0;
      if (expectSeq > 0) {
        const cached = tails.get(id);
        if (cached?.seq === expectSeq) expectStreamSeq = cached.streamSeq;
        else {
          const last = await lastStored(id);
          if (last && last.env.seq > expectSeq) return storedRetry(id, env, expectSeq, last.env.seq);
          if (last?.env.seq !== expectSeq) throw new StaleWriterError(id, expectSeq, last?.env.seq ?? 0);
          expectStreamSeq = last.msg.seq;
        }
      }
      try {
        const ack = await js.publish(subject, body, {
          msgID: `${id}:${env.seq}`,
          expect: { lastSubjectSequence: expectStreamSeq },
          timeout,
        });
        let stored = env;
        if (ack.duplicate) {
          const msg = await jsm.streams.getMessage(stream, { seq: ack.seq });
          const found = msg ? decode(msg.data, msg.subject, msg.seq, env.seq) : undefined;
          if (!found || !isSameEvent(found, env)) {
            throw new StaleWriterError(id, expectSeq, (await lastStored(id).catch(() => null))?.env.seq);
          }
          log.debug({ migrationId: id, seq: env.seq }, 'Recognised a retried append as duplicate');
          stored = found; // answer with what is stored, as every log does
        }
        tails.set(id, { seq: env.seq, streamSeq: ack.seq });
        return stored;
      } catch (err) {
        if (err instanceof StaleWriterError || err instanceof CorruptEventError) throw err;
        if (isWrongLastSequence(err)) {
          tails.delete(id);
          const last = await lastStored(id).catch(() => null);
          if (last && last.env.seq >= env.seq) return storedRetry(id, env, expectSeq, last.env.seq); // ack lost
          throw new StaleWriterError(id, expectSeq, last?.env.seq ?? reportedLastSequence(err), err);
        }
        throw unavailable(`append to ${subject}`, err);
      }
    },

    async read(id: string, fromSeq = 1): Promise<EventEnvelope[]> {
      const out: EventEnvelope[] = [];
      const tail = await lastMessage(id); // decoded below, in order, where its seq is known
      if (!tail) return out;
      const next = chain();
      for await (const batch of drain(migrationSubject(prefix, id), tail.seq, `read ${id}`)) {
        for (const m of batch) {
          const env = next(m, 1); // a migration's subject holds seq 1, 2, 3... (compaction removes all of them)
          tails.set(id, { seq: env.seq, streamSeq: m.streamSeq });
          if (env.seq >= fromSeq) out.push(env);
        }
      }
      return out;
    },

    async *readAll(): AsyncIterable<EventEnvelope> {
      let last: number;
      try {
        const info = await jsm.streams.info(stream);
        if (info.state.messages === 0) return;
        last = info.state.last_seq;
      } catch (err) {
        throw unavailable('read all', err);
      }
      const next = chain();
      for await (const batch of drain(`${prefix}.>`, last, 'read all')) {
        for (const m of batch) yield next(m, 1);
      }
    },

    async list(): Promise<string[]> {
      try {
        const info = await jsm.streams.info(stream, { subjects_filter: `${prefix}.>` });
        const subjects = Object.keys(info.state.subjects ?? {});
        return subjects
          .map((s) => migrationIdOfSubject(prefix, s))
          .filter((s): s is string => s !== null)
          .sort();
      } catch (err) {
        throw unavailable('list migrations', err);
      }
    },

    watch(o: { migrationId?: string; signal?: AbortSignal } = {}): AsyncIterable<EventEnvelope> {
      // starts now: everything after the stream's current last sequence (asked at once, awaited on iteration)
      const startSeq = jsm.streams.info(stream).then((i) => i.state.last_seq + 1);
      startSeq.catch(() => {});
      const filter = o.migrationId ? migrationSubject(prefix, o.migrationId) : `${prefix}.>`;
      return {
        async *[Symbol.asyncIterator]() {
          if (o.signal?.aborted) return;
          const consumer = await js.consumers.get(stream, {
            filter_subjects: filter,
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: await startSeq.catch((err) => Promise.reject(unavailable('watch', err))),
          });
          if (o.signal?.aborted) return;
          const msgs = await consumer.consume({ max_messages: 1000 });
          const stop = () => msgs.stop();
          o.signal?.addEventListener('abort', stop, { once: true });
          if (o.signal?.aborted) stop();
          const next = chain(); // joins mid-stream: the first seq of each migration is whatever comes next
          try {
            for await (const m of msgs) yield next({ data: m.data, subject: m.subject, streamSeq: m.seq });
          } finally {
            o.signal?.removeEventListener('abort', stop);
            msgs.stop();
          }
        },
      };
    },

    locate(id: string): string {
      return `nats:${stream}/${migrationSubject(prefix, id)}`;
    },

    async compact(id: string): Promise<number> {
      try {
        const res = await jsm.streams.purge(stream, { filter: migrationSubject(prefix, id) });
        tails.delete(id);
        log.info({ migrationId: id, purged: res.purged }, 'Compacted event log of finished migration');
        return res.purged;
      } catch (err) {
        throw unavailable(`compact ${id}`, err);
      }
    },

    async close(): Promise<void> {
      await nc.drain().catch(() => nc.close());
    },
  };
  return api;
}
