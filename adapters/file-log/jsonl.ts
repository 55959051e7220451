import type { EventEnvelope } from '../../machines/envelope.ts';
import { checkEnvelope, decodeStored } from '../event-log/envelope-check.ts';
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

/**
 * The bytes every line the file log writes for seq `seq` of `migrationId` starts with:
 * `{"migrationId":<id>,"seq":<seq>,`. They are the file log's mark on its own lines: an unterminated last line is
 * an append of this log (in flight, or torn by a crash) only if it agrees with them, which no foreign file does.
 * Logs written by every earlier version carry the same mark (the envelope was always written in this key order).
 *
 * @example
 * ```ts
 * lineHead('default/m1', 4).toString(); // '{"migrationId":"default/m1","seq":4,'
 * ```
 */
export function lineHead(migrationId: string, seq: number): Buffer {
  return Buffer.from(`{"migrationId":${JSON.stringify(migrationId)},"seq":${seq},`);
}

/** An unterminated last line: an append in flight, or torn by a crash. */
export interface TornTail {
  /** Byte offset (in the file) where the unterminated line starts. */
  offset: number;
  bytes: Buffer;
}

/** Result of parsing a chunk of a log file. */
export interface ParsedChunk {
  events: EventEnvelope[];
  /** Bytes consumed: up to and including the last complete line's newline. */
  consumed: number;
  /** The unterminated last line, if any; always an append of this log (anything else throws). */
  torn: TornTail | undefined;
}

/** Where the chunk comes from, for error messages: the file and the file offset of the chunk's first byte. */
export interface ChunkSource {
  file: string;
  offset: number;
}

const NEWLINE = 0x0a;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses JSON Lines from `buf`, validating every envelope (strict UTF-8, JSON, shape, migration) and the seq
 * chain, which must continue from `lastSeq`. Only an unterminated last line that agrees with {@link lineHead}
 * is a torn or in-flight append, reported in `torn`; every other problem, including a complete line that is not
 * JSON, throws {@link CorruptEventError} naming the migration, the seq, the file and the byte offset.
 *
 * @example
 * ```ts
 * const { events, torn } = parseChunk('default/m1', await readFile(file), 0, { file, offset: 0 });
 * ```
 */
export function parseChunk(migrationId: string, buf: Buffer, lastSeq: number, src: ChunkSource): ParsedChunk {
  const end = buf.lastIndexOf(NEWLINE) + 1;
  const events = parseWhole(migrationId, buf, end, lastSeq) ?? parseLines(migrationId, buf, 0, end, lastSeq, src);
  if (end === buf.length) return { events, consumed: end, torn: undefined };
  const seq = lastSeq + events.length + 1;
  const bytes = buf.subarray(end);
  if (!agreesWithHead(bytes, lineHead(migrationId, seq))) {
    throw new CorruptEventError(migrationId, seq, 'the last line has no newline and is not an append of this log', {
      file: src.file,
      offset: src.offset + end,
      fix: `if these ${bytes.length} bytes are the remains of an interrupted write, move them aside (keep the first ${src.offset + end} bytes of the file); otherwise restore the log from a backup`,
    });
  }
  return { events, consumed: end, torn: { offset: src.offset + end, bytes } };
}

/** True when `bytes` is a prefix of `head` or starts with it. */
function agreesWithHead(bytes: Buffer, head: Buffer): boolean {
  const n = Math.min(bytes.length, head.length);
  return bytes.subarray(0, n).equals(head.subarray(0, n));
}

/**
 * Fast path for the complete lines `buf[0, end)`: one strict decode and one `JSON.parse` of all lines joined as
 * an array (JSON.stringify never emits a raw newline, so every newline separates two envelopes). `undefined`
 * sends the chunk to the line-by-line path, which locates a broken line exactly.
 */
function parseWhole(migrationId: string, buf: Buffer, end: number, lastSeq: number): EventEnvelope[] | undefined {
  if (end === 0) return [];
  let values: unknown;
  let lines = 1;
  try {
    const text = strictUtf8.decode(buf.subarray(0, end - 1));
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines += 1;
    values = JSON.parse(`[${text.replaceAll('\n', ',')}]`);
  } catch {
    return undefined;
  }
  if (!Array.isArray(values) || values.length !== lines) return undefined;
  const events: EventEnvelope[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // a problem is re-found by the line path, which knows the byte offset
    if (!isQuickValid(v, migrationId, lastSeq + i + 1)) return undefined;
    events[i] = v as EventEnvelope;
  }
  return events;
}

function isQuickValid(v: unknown, migrationId: string, seq: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    e.migrationId === migrationId &&
    e.seq === seq &&
    typeof e.type === 'string' &&
    e.type.length > 0 &&
    typeof e.at === 'string' &&
    e.at.length > 0 &&
    typeof e.machineVersion === 'number' &&
    Number.isInteger(e.machineVersion) &&
    'data' in e
  );
}

/**
 * Parses the complete lines `buf[start, end)` one by one (`end` just after a newline). `lastSeq` undefined
 * accepts any seq for the first line (a watch that joined mid-file); then the chain must have no gaps.
 *
 * @example
 * ```ts
 * const events = parseLines('default/m1', buf, 0, buf.lastIndexOf(0x0a) + 1, 3, { file, offset: cursor });
 * ```
 */
export function parseLines(
  migrationId: string,
  buf: Buffer,
  start: number,
  end: number,
  lastSeq: number | undefined,
  src: ChunkSource,
): EventEnvelope[] {
  const events: EventEnvelope[] = [];
  let seq = lastSeq;
  for (let at = start; at < end; ) {
    const nl = buf.indexOf(NEWLINE, at);
    const expected = seq === undefined ? undefined : seq + 1;
    const where = { file: src.file, offset: src.offset + at };
    if (nl === at) throw new CorruptEventError(migrationId, expected, 'empty line', where);
    const value = decodeStored(buf.subarray(at, nl), migrationId, expected, where);
    const ev = checkEnvelope(value, migrationId, expected, where);
    seq = ev.seq;
    events.push(ev);
    at = nl + 1;
  }
  return events;
}
