/**
 * Structural check of one stored envelope, shared by the logs that store raw bytes (file log, JetStream): the
 * shape, the stream it names and its place in the seq chain. Event types and data are checked later, by
 * actors/event-schema.ts against the chart of the stream's kind.
 *
 * Two stored formats exist, and a stream keeps one from its first event to its last (the layout tells which):
 * - `current`: `{kind, id, seq, type, at, machineVersion, data}`;
 * - `legacy`: `{migrationId, seq, type, at, machineVersion, data}`, written before kinds existed: always kind
 *   StatefulMigration. It is upcast to the current envelope when read (machines/envelope.ts `upcastEnvelope`).
 */
import {
  type EventEnvelope,
  LEGACY_KIND,
  type LegacyEnvelope,
  type StreamKey,
  toLegacyEnvelope,
  upcastEnvelope,
} from '../../machines/envelope.ts';
import { CorruptEventError, type CorruptEventOptions } from './port.ts';

/** The stored format of a stream (fixed by where it is stored: file name, subject). */
export type EnvelopeFormat = 'current' | 'legacy';

/** Strict UTF-8: a byte sequence that is not UTF-8 is an error, never U+FFFD; a BOM is kept (and is not JSON). */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes stored bytes as strict UTF-8 and parses them as JSON; throws {@link CorruptEventError} for invalid
 * UTF-8 or invalid JSON. `seq` is the seq the bytes are expected to hold (for the message).
 *
 * @example
 * ```ts
 * const value = decodeStored(msg.data, { kind: 'StatefulMigration', id: 'default/m1' }, 3, { streamSeq: msg.seq });
 * ```
 */
export function decodeStored(
  bytes: Uint8Array,
  key: StreamKey,
  seq: number | undefined,
  where: CorruptEventOptions = {},
): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch (err) {
    throw new CorruptEventError(key, seq, 'event is not valid UTF-8', { ...where, cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CorruptEventError(key, seq, 'event is not JSON', { ...where, cause: err });
  }
}

/**
 * What is wrong with `value` as the stored envelope of seq `expectedSeq` of stream `key` in `format`, or
 * `undefined` when nothing is (allocation-free when valid: rebuild checks 300,000 of them). With `expectedSeq`
 * undefined any positive seq is accepted (a watch that joined mid-stream).
 *
 * @example
 * ```ts
 * envelopeProblem({ kind: 'StatefulMigration', id: 'ns/a', seq: '3' }, key, 3, 'current'); // 'seq must be a number, found string "3"'
 * ```
 */
export function envelopeProblem(
  value: unknown,
  key: StreamKey,
  expectedSeq: number | undefined,
  format: EnvelopeFormat,
): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `event must be a JSON object, found ${describe(value)}`;
  }
  const v = value as Record<string, unknown>;
  if (format === 'legacy') {
    if ('kind' in v) return `a legacy log holds envelopes without kind, found kind ${describe(v.kind)}`;
    if (typeof v.migrationId !== 'string') return `migrationId must be a string, found ${describe(v.migrationId)}`;
    if (v.migrationId !== key.id) return `envelope names migration ${JSON.stringify(v.migrationId)}`;
  } else {
    if (typeof v.kind !== 'string') return `kind must be a string, found ${describe(v.kind)}`;
    if (v.kind !== key.kind) return `envelope names kind ${JSON.stringify(v.kind)}`;
    if (typeof v.id !== 'string') return `id must be a string, found ${describe(v.id)}`;
    if (v.id !== key.id) return `envelope names ${key.kind} ${JSON.stringify(v.id)}`;
  }
  if (typeof v.seq !== 'number') return `seq must be a number, found ${describe(v.seq)}`;
  if (!Number.isInteger(v.seq) || v.seq < 1) return `seq must be a positive integer, found ${v.seq}`;
  if (expectedSeq !== undefined && v.seq !== expectedSeq) {
    return v.seq < expectedSeq
      ? `seq ${v.seq} repeats or goes back (seq ${expectedSeq} was expected)`
      : `seq gap: seq ${v.seq} follows seq ${expectedSeq - 1} (seq ${expectedSeq} was expected)`;
  }
  if (typeof v.type !== 'string' || v.type.length === 0)
    return `type must be a non-empty string, found ${describe(v.type)}`;
  if (typeof v.at !== 'string' || v.at.length === 0) return `at must be a non-empty string, found ${describe(v.at)}`;
  if (typeof v.machineVersion !== 'number' || !Number.isInteger(v.machineVersion)) {
    return `machineVersion must be an integer, found ${describe(v.machineVersion)}`;
  }
  if (!('data' in v)) return 'data is missing';
  return undefined;
}

/**
 * Returns `value` as the (current) envelope of stream `key` at `expectedSeq`, upcasting a legacy one, or throws
 * {@link CorruptEventError} naming the stream, the seq and `where` it is stored.
 *
 * @example
 * ```ts
 * const env = checkEnvelope(JSON.parse(line), { kind: 'StatefulMigration', id: 'default/m1' }, 4, 'current', { file, offset });
 * ```
 */
export function checkEnvelope(
  value: unknown,
  key: StreamKey,
  expectedSeq: number | undefined,
  format: EnvelopeFormat,
  where: CorruptEventOptions = {},
): EventEnvelope {
  const problem = envelopeProblem(value, key, expectedSeq, format);
  if (problem !== undefined) {
    const found = (value as { seq?: unknown } | null)?.seq;
    throw new CorruptEventError(key, expectedSeq ?? (typeof found === 'number' ? found : undefined), problem, where);
  }
  return format === 'legacy' ? (upcastEnvelope(value) as EventEnvelope) : (value as EventEnvelope);
}

/**
 * The value a log stores for `env` in `format`, members in the fixed order of that format (a retried append
 * produces identical bytes, and the file log recognises its own lines by their start).
 *
 * @example
 * ```ts
 * JSON.stringify(storedForm(env, 'current')); // '{"kind":"StatefulMigration","id":"default/m1","seq":1,...}'
 * ```
 */
export function storedForm(env: EventEnvelope, format: EnvelopeFormat): EventEnvelope | LegacyEnvelope {
  if (format === 'legacy') {
    if (env.kind !== LEGACY_KIND) throw new TypeError(`a legacy stream holds only ${LEGACY_KIND} events`);
    return toLegacyEnvelope(env);
  }
  return {
    kind: env.kind,
    id: env.id,
    seq: env.seq,
    type: env.type,
    at: env.at,
    machineVersion: env.machineVersion,
    data: env.data,
  };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
