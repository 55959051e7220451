/**
 * Decoding of stored JetStream messages into envelopes, for the JetStream event log (jetstream-event-log.ts):
 * each message is checked (strict UTF-8, JSON, envelope shape in its subject's format, the stream its subject
 * names) and, read in order, its place in its stream's seq chain. Anything else is a CorruptEventError naming the
 * stream, the seq and the stream seq.
 */

import type { EventEnvelope } from '../../machines/envelope.ts';
import { checkEnvelope, decodeStored } from '../event-log/envelope-check.ts';
import { CorruptEventError } from '../event-log/port.ts';
import type { RawStored } from './stream-reader.ts';
import { type StreamSubject, streamOfSubject } from './subject.ts';

const CORRUPT_FIX =
  'the stream was changed outside ms2m: restore it from a backup (ms2m never rewrites or drops a stored event)';

/** Decodes the messages stored under one subject prefix; remembers which stream each subject holds. */
export class StoredEventDecoder {
  private readonly prefix: string;
  /** subject -> its stream, so a rebuild decodes each subject once. */
  private readonly subjects = new Map<string, StreamSubject>();

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /**
   * Decodes and checks one stored message: strict UTF-8, JSON, envelope shape in its subject's format, the stream
   * of its subject and, when `expectedSeq` is known, its place in the seq chain. Anything else is a
   * CorruptEventError naming the stream, the seq and the stream seq.
   */
  decode(msg: { data: Uint8Array; seq: number }, where: StreamSubject, expectedSeq?: number): EventEnvelope {
    const w = { streamSeq: msg.seq, fix: CORRUPT_FIX };
    return checkEnvelope(decodeStored(msg.data, where.key, expectedSeq, w), where.key, expectedSeq, where.format, w);
  }

  /** Per-stream seq chain of a stream read in order: each message must hold the next seq of its stream. */
  chain(): (m: RawStored, first?: number) => EventEnvelope {
    const last = new Map<string, number>();
    return (m, first) => {
      const where = this.streamOf(m.subject, m.streamSeq);
      const prev = last.get(m.subject);
      const env = this.decode({ data: m.data, seq: m.streamSeq }, where, prev === undefined ? first : prev + 1);
      last.set(m.subject, env.seq);
      return env;
    };
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
}
