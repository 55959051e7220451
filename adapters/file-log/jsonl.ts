import { type EventEnvelope, isKind, LEGACY_KIND, type StreamKey, upcastEnvelope } from '../../machines/envelope.ts';
import { checkEnvelope, decodeStored, type EnvelopeFormat } from '../event-log/envelope-check.ts';
import { CorruptEventError } from '../event-log/port.ts';

/** Suffix of every per-stream log file. */
export const LOG_SUFFIX = '.jsonl';

/** Separates the kind from the encoded id in a file name; never in an encoded id or a kind. */
const KIND_SEPARATOR = '@';

/** One stream's file in a log directory: its name, the stream it holds and that file's stored format. */
export interface StreamFile {
  name: string;
  key: StreamKey;
  format: EnvelopeFormat;
}

/**
 * The file name of a stream in the current layout: `<kind>@<encoded id>.jsonl`, reversibly and without path
 * separators (`encodeURIComponent` never leaves a raw `@`, and a kind holds only letters and digits, so no
 * name of the current layout is a legacy name).
 *
 * @example
 * ```ts
 * fileNameOf({ kind: 'StatefulMigration', id: 'default/m1' }); // 'StatefulMigration@default%2Fm1.jsonl'
 * fileNameOf({ kind: 'VolumeResize', id: 'default/m1' }); // 'VolumeResize@default%2Fm1.jsonl'
 * ```
 */
export function fileNameOf(key: StreamKey): string {
  if (!isKind(key.kind)) throw new TypeError(`${JSON.stringify(key.kind)} is not a kind name`);
  if (key.id.length === 0) throw new TypeError('stream id must not be empty');
  return `${key.kind}${KIND_SEPARATOR}${encodeURIComponent(key.id)}${LOG_SUFFIX}`;
}

/**
 * The file name of a migration in the legacy layout (before kinds): `<encoded id>.jsonl`. Such files are read as
 * kind StatefulMigration; a log never creates one, but appends to one that exists.
 *
 * @example
 * ```ts
 * legacyFileNameOf('default/m1'); // 'default%2Fm1.jsonl'
 * ```
 */
export function legacyFileNameOf(id: string): string {
  if (id.length === 0) throw new TypeError('migration id must not be empty');
  // encodeURIComponent leaves '.', so '.' and '..' would name the directory itself: encode a leading dot.
  const encoded = encodeURIComponent(id);
  return `${encoded.startsWith('.') ? `%2E${encoded.slice(1)}` : encoded}${LOG_SUFFIX}`;
}

/**
 * The stream a file holds, by its name; `undefined` for files that are not stream logs.
 *
 * @example
 * ```ts
 * streamOfFileName('VolumeResize@default%2Fdata-0.jsonl'); // { key: { kind: 'VolumeResize', id: 'default/data-0' }, format: 'current', ... }
 * streamOfFileName('default%2Fm1.jsonl'); // { key: { kind: 'StatefulMigration', id: 'default/m1' }, format: 'legacy', ... }
 * ```
 */
export function streamOfFileName(name: string): StreamFile | undefined {
  if (!name.endsWith(LOG_SUFFIX) || name.length === LOG_SUFFIX.length) return undefined;
  const base = name.slice(0, -LOG_SUFFIX.length);
  const at = base.indexOf(KIND_SEPARATOR);
  try {
    if (at === -1) return { name, key: { kind: LEGACY_KIND, id: decodeURIComponent(base) }, format: 'legacy' };
    const kind = base.slice(0, at);
    const id = decodeURIComponent(base.slice(at + 1));
    if (!isKind(kind) || id.length === 0) return undefined;
    return { name, key: { kind, id }, format: 'current' };
  } catch {
    return undefined;
  }
}

/**
 * The bytes every line the file log writes for seq `seq` of stream `key` in `format` starts with:
 * `{"kind":<kind>,"id":<id>,"seq":<seq>,` (current) or `{"migrationId":<id>,"seq":<seq>,` (legacy). They are the
 * file log's mark on its own lines: an unterminated last line is an append of this log (in flight, or torn by
 * a crash) only if it agrees with them, which no foreign file does. Every version wrote its envelope members
 * in this order, and a file keeps the format it was created with.
 *
 * @example
 * ```ts
 * lineHead({ kind: 'StatefulMigration', id: 'default/m1' }, 4, 'current').toString();
 * // '{"kind":"StatefulMigration","id":"default/m1","seq":4,'
 * lineHead({ kind: 'StatefulMigration', id: 'default/m1' }, 4, 'legacy').toString(); // '{"migrationId":"default/m1","seq":4,'
 * ```
 */
export function lineHead(key: StreamKey, seq: number, format: EnvelopeFormat): Buffer {
  return format === 'legacy'
    ? Buffer.from(`{"migrationId":${JSON.stringify(key.id)},"seq":${seq},`)
    : Buffer.from(`{"kind":${JSON.stringify(key.kind)},"id":${JSON.stringify(key.id)},"seq":${seq},`);
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
 * Parses JSON Lines of stream `stream.key` stored in `stream.format` from `buf`, validating every envelope
 * (strict UTF-8, JSON, shape, stream) and the seq chain, which must continue from `lastSeq`; legacy envelopes
 * come back upcast. Only an unterminated last line that agrees with {@link lineHead} is a torn or in-flight
 * append, reported in `torn`; every other problem, including a complete line that is not JSON, throws
 * {@link CorruptEventError} naming the stream, the seq, the file and the byte offset.
 *
 * @example
 * ```ts
 * const { events, torn } = parseChunk(streamOfFileName(name)!, await readFile(file), 0, { file, offset: 0 });
 * ```
 */
export function parseChunk(
  stream: Omit<StreamFile, 'name'>,
  buf: Buffer,
  lastSeq: number,
  src: ChunkSource,
): ParsedChunk {
  const end = buf.lastIndexOf(NEWLINE) + 1;
  const events = parseWhole(stream, buf, end, lastSeq) ?? parseLines(stream, buf, 0, end, lastSeq, src);
  if (end === buf.length) return { events, consumed: end, torn: undefined };
  const seq = lastSeq + events.length + 1;
  const bytes = buf.subarray(end);
  if (!agreesWithHead(bytes, lineHead(stream.key, seq, stream.format))) {
    throw new CorruptEventError(stream.key, seq, 'the last line has no newline and is not an append of this log', {
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
function parseWhole(
  stream: Omit<StreamFile, 'name'>,
  buf: Buffer,
  end: number,
  lastSeq: number,
): EventEnvelope[] | undefined {
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
  const legacy = stream.format === 'legacy';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // a problem is re-found by the line path, which knows the byte offset
    if (!isQuickValid(v, stream, lastSeq + i + 1)) return undefined;
    events[i] = (legacy ? upcastEnvelope(v) : v) as EventEnvelope;
  }
  return events;
}

function isQuickValid(v: unknown, stream: Omit<StreamFile, 'name'>, seq: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  const named =
    stream.format === 'legacy'
      ? e.migrationId === stream.key.id && !('kind' in e)
      : e.kind === stream.key.kind && e.id === stream.key.id;
  return (
    named &&
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
 * const events = parseLines(stream, buf, 0, buf.lastIndexOf(0x0a) + 1, 3, { file, offset: cursor });
 * ```
 */
export function parseLines(
  stream: Omit<StreamFile, 'name'>,
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
    if (nl === at) throw new CorruptEventError(stream.key, expected, 'empty line', where);
    const value = decodeStored(buf.subarray(at, nl), stream.key, expected, where);
    const ev = checkEnvelope(value, stream.key, expected, stream.format, where);
    seq = ev.seq;
    events.push(ev);
    at = nl + 1;
  }
  return events;
}
