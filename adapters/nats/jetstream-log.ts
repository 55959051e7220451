/**
 * The event log on NATS JetStream: one stream, one subject per event stream (`<prefix>.<kind>.<id token>`, see
 * subject.ts), one message per event whose body is the envelope. This file connects and sets the stream up (or,
 * read-only, only checks it exists); the open log is jetstream-event-log.ts.
 *
 * A StatefulMigration logged before kinds existed sits on `<prefix>.<id token>` with legacy bodies: while that
 * subject holds events it is the migration's subject, read and appended to in its own format (stream-locator.ts).
 */

import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { StreamKey } from '../../machines/envelope.ts';
import { NotFoundError } from '../errors.ts';
import type { EventLog, EventLogReader } from '../event-log/port.ts';
import { streamConfig } from './jetstream.wire.ts';
import { unavailable } from './jetstream-errors.ts';
import { JetStreamEventLog } from './jetstream-event-log.ts';

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
