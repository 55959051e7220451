/**
 * What the JetStream event log puts on the wire: the stream configuration and the stored message body (the
 * event envelope as JSON, one message per event). Server-side snake_case names stay here.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { z } from 'zod';
import type { EventEnvelope } from '../../machines/envelope.ts';

/** Duplicate window: a retried append (same msgID) within it is answered `duplicate: true`. */
export const DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000;

/** Stream config: one subject per migration, file storage, limits retention, no per-subject cap, rollups allowed. */
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

/** Stored message body: exactly the envelope (the schema documents it; the hot path uses {@link parseEnvelope}). */
export const storedEnvelopeSchema = z.object({
  migrationId: z.string().min(1),
  seq: z.number().int().positive(),
  type: z.string().min(1),
  at: z.string().min(1),
  machineVersion: z.number().int(),
  data: z.unknown(),
});

export type StoredEnvelope = EventEnvelope;

/** Stable JSON of an envelope (key order fixed) so a retried append produces identical bytes. */
export function encodeEnvelope(env: EventEnvelope): Uint8Array {
  const ordered = {
    migrationId: env.migrationId,
    seq: env.seq,
    type: env.type,
    at: env.at,
    machineVersion: env.machineVersion,
    data: env.data,
  };
  return new TextEncoder().encode(JSON.stringify(ordered));
}

/** Fast structural check of a decoded body (rebuild reads 300,000 of them); returns a problem or null. */
export function envelopeProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'body is not an object';
  const e = v as Record<string, unknown>;
  if (typeof e.migrationId !== 'string' || e.migrationId.length === 0) return 'migrationId missing';
  if (typeof e.seq !== 'number' || !Number.isInteger(e.seq) || e.seq < 1) return 'seq is not a positive integer';
  if (typeof e.type !== 'string' || e.type.length === 0) return 'type missing';
  if (typeof e.at !== 'string' || e.at.length === 0) return 'at missing';
  if (typeof e.machineVersion !== 'number' || !Number.isInteger(e.machineVersion)) return 'machineVersion missing';
  if (!('data' in e)) return 'data missing';
  return null;
}
