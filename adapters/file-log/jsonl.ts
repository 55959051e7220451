import type { EventEnvelope } from '../../machines/envelope.ts';
import { CorruptEventError } from '../event-log/port.ts';

/** Suffix of every per-migration log file. */
export const LOG_SUFFIX = '.jsonl';

/**
 * Maps a migration id (`namespace/name`) to its file name, reversibly and without path separators.
 *
 * @example
 * ```ts
 * fileNameOf('default/m1'); // 'default%2Fm1.jsonl'
 * migrationIdOf('default%2Fm1.jsonl'); // 'default/m1'
 * ```
 */
export function fileNameOf(migrationId: string): string {
  if (migrationId.length === 0) throw new TypeError('migration id must not be empty');
  // encodeURIComponent leaves '.', so '.' and '..' would name the directory itself: encode a leading dot.
  const encoded = encodeURIComponent(migrationId);
  return `${encoded.startsWith('.') ? `%2E${encoded.slice(1)}` : encoded}${LOG_SUFFIX}`;
}

/** Inverse of {@link fileNameOf}; `undefined` for files that are not migration logs. */
export function migrationIdOf(fileName: string): string | undefined {
  if (!fileName.endsWith(LOG_SUFFIX) || fileName.length === LOG_SUFFIX.length) return undefined;
  try {
    return decodeURIComponent(fileName.slice(0, -LOG_SUFFIX.length));
  } catch {
    return undefined;
  }
}

/** Result of parsing a chunk of a log file. */
export interface ParsedChunk {
  events: EventEnvelope[];
  /** Bytes consumed: up to and including the last valid line's newline. */
  consumed: number;
  /** Byte length of a torn last line (no trailing newline, or not JSON), 0 when there is none. */
  tornBytes: number;
}

const NEWLINE = 0x0a;

/**
 * Parses JSON Lines from `buf`, validating every envelope and the seq chain, which must continue from
 * `lastSeq`. A last line without its newline, or a last line that is not JSON, is a torn write and is
 * reported in `tornBytes`; anything else that fails validation throws {@link CorruptEventError}.
 */
export function parseChunk(migrationId: string, buf: Buffer, lastSeq: number): ParsedChunk {
  return parseWhole(migrationId, buf, lastSeq) ?? parseLines(migrationId, buf, lastSeq);
}

/**
 * Fast path for a chunk of complete lines: one `JSON.parse` of all lines joined as an array (JSON.stringify
 * never emits a raw newline, so every newline separates two envelopes). `undefined` sends the chunk to the
 * line-by-line path, which locates a torn or broken line exactly.
 */
function parseWhole(migrationId: string, buf: Buffer, lastSeq: number): ParsedChunk | undefined {
  if (buf.length === 0 || buf[buf.length - 1] !== NEWLINE) return undefined;
  const text = buf.toString('utf8', 0, buf.length - 1);
  let values: unknown;
  try {
    values = JSON.parse(`[${text.replaceAll('\n', ',')}]`);
  } catch {
    return undefined;
  }
  let lines = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines += 1;
  if (!Array.isArray(values) || values.length !== lines) return undefined;
  const events = values.map((value, i) => validateEnvelope(migrationId, value, lastSeq + i + 1));
  return { events, consumed: buf.length, tornBytes: 0 };
}

function parseLines(migrationId: string, buf: Buffer, lastSeq: number): ParsedChunk {
  const events: EventEnvelope[] = [];
  let start = 0;
  let seq = lastSeq;
  while (start < buf.length) {
    const nl = buf.indexOf(NEWLINE, start);
    if (nl === -1) return { events, consumed: start, tornBytes: buf.length - start };
    const text = buf.toString('utf8', start, nl);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (nl === buf.length - 1) return { events, consumed: start, tornBytes: buf.length - start };
      throw new CorruptEventError(migrationId, seq + 1, `line at byte ${start} is not JSON`, err);
    }
    seq += 1;
    events.push(validateEnvelope(migrationId, value, seq));
    start = nl + 1;
  }
  return { events, consumed: start, tornBytes: 0 };
}

/** Checks the envelope shape and that it carries `expectedSeq` of `migrationId` (allocation-free when valid). */
export function validateEnvelope(migrationId: string, value: unknown, expectedSeq: number): EventEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CorruptEventError(migrationId, expectedSeq, 'line is not an object');
  }
  const v = value as Record<string, unknown>;
  const problem =
    v.migrationId !== migrationId
      ? `envelope names migration ${String(v.migrationId)}`
      : v.seq !== expectedSeq
        ? `seq gap: found seq ${String(v.seq)} where seq ${expectedSeq} was expected`
        : typeof v.type !== 'string' || v.type.length === 0
          ? 'type is missing'
          : typeof v.at !== 'string'
            ? 'at is missing'
            : typeof v.machineVersion !== 'number'
              ? 'machineVersion is missing'
              : v.data === undefined && !('data' in v)
                ? 'data is missing'
                : undefined;
  if (problem !== undefined) throw new CorruptEventError(migrationId, expectedSeq, problem);
  return v as unknown as EventEnvelope;
}

/** JSON with object keys sorted, to compare two events by value. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
