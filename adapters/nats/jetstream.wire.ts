/**
 * What the JetStream event log puts on the wire: the stream configuration and the stored message body (the
 * event envelope as JSON, one message per event). Server-side snake_case names stay here.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { z } from 'zod';
import { type EventEnvelope, KIND_PATTERN, type LegacyEnvelope } from '../../machines/envelope.ts';
import { type EnvelopeFormat, storedForm } from '../event-log/envelope-check.ts';

/** Duplicate window: a retried append (same msgID) within it is answered `duplicate: true`. */
export const DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000;

/** Stream config: one subject per stream, file storage, limits retention, no per-subject cap, rollups allowed. */
export function streamConfig(name: string, subjectPrefix: string): Partial<StreamConfig> & { name: string } {
  return {
    name,
    subjects: [`${subjectPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: -1,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    duplicate_window: DUPLICATE_WINDOW_NS,
    allow_rollup_hdrs: true,
    deny_delete: false,
    deny_purge: false,
    num_replicas: 1,
  };
}

/**
 * Stored message body: the envelope as JSON, in the format of its subject (see subject.ts). The schemas document
 * it; the hot path checks bodies with adapters/event-log/envelope-check.ts.
 */
export const storedEnvelopeSchema = z.object({
  kind: z.string().regex(KIND_PATTERN),
  id: z.string().min(1),
  seq: z.number().int().positive(),
  type: z.string().min(1),
  at: z.string().min(1),
  machineVersion: z.number().int(),
  data: z.unknown(),
});

/** The body on a legacy subject `<prefix>.<id token>` (a migration logged before kinds existed). */
export const storedLegacyEnvelopeSchema = z.object({
  migrationId: z.string().min(1),
  seq: z.number().int().positive(),
  type: z.string().min(1),
  at: z.string().min(1),
  machineVersion: z.number().int(),
  data: z.unknown(),
});

export type StoredEnvelope = EventEnvelope | LegacyEnvelope;

/**
 * Stable JSON of an envelope in the format of its subject (member order fixed), so a retried append produces
 * identical bytes.
 *
 * @example
 * ```ts
 * js.publish(subject, encodeEnvelope(env, 'current'), { msgID: `${env.kind}:${env.id}:${env.seq}` });
 * ```
 */
export function encodeEnvelope(env: EventEnvelope, format: EnvelopeFormat): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(storedForm(env, format)));
}
