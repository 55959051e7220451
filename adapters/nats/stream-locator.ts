/**
 * Where each event stream sits in the JetStream stream, for the JetStream event log (jetstream-event-log.ts):
 * its current-layout subject `<prefix>.<kind>.<id token>`, or, for a StatefulMigration logged before kinds
 * existed, its legacy subject `<prefix>.<id token>` while that holds events (see subject.ts). A subject found to
 * hold events is remembered until the stream is compacted.
 */

import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { keyText, LEGACY_KIND, type StreamKey } from '../../machines/envelope.ts';
import { unavailable } from './jetstream-errors.ts';
import { legacySubject, type StreamSubject, streamSubject } from './subject.ts';

/** One stream's subject and its last stored message (null: no events yet). */
export interface Located {
  where: StreamSubject;
  last: StoredMsg | null;
}

/** Finds the subject of each stream and reads the last message stored on a subject. */
export class StreamLocator {
  private readonly jsm: JetStreamManager;
  private readonly stream: string;
  private readonly prefix: string;
  /** keyText -> the stream's subject, once it is known to hold events. */
  private readonly located = new Map<string, StreamSubject>();

  constructor(jsm: JetStreamManager, stream: string, prefix: string) {
    this.jsm = jsm;
    this.stream = stream;
    this.prefix = prefix;
  }

  /** The subject `key` is known to hold events on, if it was found (or appended to) already. */
  known(key: StreamKey): StreamSubject | undefined {
    return this.located.get(keyText(key));
  }

  /** Notes that `key`'s events are on `where` (after an append there). */
  remember(key: StreamKey, where: StreamSubject): void {
    this.located.set(keyText(key), where);
  }

  /** Forgets where `key` is (after its events were purged). */
  forget(key: StreamKey): void {
    this.located.delete(keyText(key));
  }

  /** The current-layout subject of `key`, whether or not it holds events. */
  currentSubject(key: StreamKey): StreamSubject {
    return { subject: streamSubject(this.prefix, key), key, format: 'current' };
  }

  /**
   * Where stream `key` is, with its last stored message: its current-layout subject when that holds events;
   * for a StatefulMigration, else its legacy subject when that holds events; else its (empty) current subject.
   */
  async find(key: StreamKey): Promise<Located> {
    const k = keyText(key);
    const known = this.located.get(k);
    if (known) return { where: known, last: await this.lastMessage(known.subject) };
    const current = this.currentSubject(key);
    const last = await this.lastMessage(current.subject);
    if (last || key.kind !== LEGACY_KIND) return this.found(k, current, last);
    const legacy: StreamSubject = { subject: legacySubject(this.prefix, key.id), key, format: 'legacy' };
    const legacyLast = await this.lastMessage(legacy.subject);
    return legacyLast ? this.found(k, legacy, legacyLast) : { where: current, last: null };
  }

  /** True when `key` is a StatefulMigration whose legacy subject holds events (checked when it starts). */
  async hasLegacyStream(key: StreamKey): Promise<boolean> {
    if (key.kind !== LEGACY_KIND) return false;
    const subject = legacySubject(this.prefix, key.id);
    const last = await this.lastMessage(subject);
    if (last) this.located.set(keyText(key), { subject, key, format: 'legacy' });
    return last !== null;
  }

  /** The last stored message on `subject`, undecoded. */
  private async lastMessage(subject: string): Promise<StoredMsg | null> {
    try {
      return await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
    } catch (err) {
      throw unavailable(`read last event of ${subject}`, err);
    }
  }

  private found(k: string, where: StreamSubject, last: StoredMsg | null): Located {
    if (last) this.located.set(k, where);
    return { where, last };
  }
}
