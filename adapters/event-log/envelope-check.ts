/**
 * Structural check of one stored envelope, shared by the logs that store raw bytes (file log, JetStream): the
 * shape, the migration it names and its place in the seq chain. Event types and data are checked later, by
 * actors/event-schema.ts.
 */
import type { EventEnvelope } from '../../machines/envelope.ts';
import { CorruptEventError, type CorruptEventOptions } from './port.ts';

/** Strict UTF-8: a byte sequence that is not UTF-8 is an error, never U+FFFD; a BOM is kept (and is not JSON). */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes stored bytes as strict UTF-8 and parses them as JSON; throws {@link CorruptEventError} for invalid
 * UTF-8 or invalid JSON. `seq` is the seq the bytes are expected to hold (for the message).
 *
 * @example
 * ```ts
 * const value = decodeStored(msg.data, 'default/m1', 3, { streamSeq: msg.seq });
 * ```
 */
export function decodeStored(
  bytes: Uint8Array,
  migrationId: string,
  seq: number | undefined,
  where: CorruptEventOptions = {},
): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch (err) {
    throw new CorruptEventError(migrationId, seq, 'event is not valid UTF-8', { ...where, cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CorruptEventError(migrationId, seq, 'event is not JSON', { ...where, cause: err });
  }
}

/**
 * What is wrong with `value` as the envelope of seq `expectedSeq` of `migrationId`, or `undefined` when nothing
 * is (allocation-free when valid: rebuild checks 300,000 of them). With `expectedSeq` undefined any positive seq
 * is accepted (a watch that joined mid-stream).
 *
 * @example
 * ```ts
 * envelopeProblem({ migrationId: 'ns/a', seq: '3' }, 'ns/a', 3); // 'seq must be a number, found string "3"'
 * ```
 */
export function envelopeProblem(
  value: unknown,
  migrationId: string,
  expectedSeq: number | undefined,
): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `event must be a JSON object, found ${describe(value)}`;
  }
  const v = value as Record<string, unknown>;
  if (typeof v.migrationId !== 'string') return `migrationId must be a string, found ${describe(v.migrationId)}`;
  if (v.migrationId !== migrationId) return `envelope names migration ${JSON.stringify(v.migrationId)}`;
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
 * Returns `value` as an envelope of `migrationId` at `expectedSeq`, or throws {@link CorruptEventError} naming the
 * migration, the seq and `where` it is stored.
 *
 * @example
 * ```ts
 * const env = checkEnvelope(JSON.parse(line), 'default/m1', 4, { file, offset });
 * ```
 */
export function checkEnvelope(
  value: unknown,
  migrationId: string,
  expectedSeq: number | undefined,
  where: CorruptEventOptions = {},
): EventEnvelope {
  const problem = envelopeProblem(value, migrationId, expectedSeq);
  if (problem !== undefined) {
    const found = (value as { seq?: unknown } | null)?.seq;
    throw new CorruptEventError(
      migrationId,
      expectedSeq ?? (typeof found === 'number' ? found : undefined),
      problem,
      where,
    );
  }
  return value as EventEnvelope;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
