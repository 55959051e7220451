/**
 * Stream key <-> NATS subject. A stream's subject is `<prefix>.<kind>.<id token>`; a migration logged before
 * kinds existed sits on `<prefix>.<id token>` (legacy layout, always kind StatefulMigration). The stream's
 * subject filter `<prefix>.>` covers both.
 *
 * Ids look like `namespace/name/uid`; a subject token may not hold `.`, `*`, `>` or whitespace, so every byte
 * outside `[A-Za-z0-9-]` is written as `_` + two lowercase hex digits of its UTF-8 encoding (`_` itself too).
 * The mapping is injective and reversible, and keeps ids readable in `nats stream view`:
 * `default/my.app` -> `default_2fmy_2eapp`. A kind is letters and digits only (envelope.ts `KIND_PATTERN`).
 */
import { isKind, LEGACY_KIND, type StreamKey } from '../../machines/envelope.ts';
import type { EnvelopeFormat } from '../event-log/envelope-check.ts';

const SAFE = /^[A-Za-z0-9-]$/;

/**
 * Encodes an id as one subject token.
 *
 * @example
 * ```ts
 * encodeIdToken('default/m1'); // 'default_2fm1'
 * decodeIdToken('default_2fm1'); // 'default/m1'
 * ```
 */
export function encodeIdToken(id: string): string {
  if (id.length === 0) throw new Error('stream id must not be empty');
  let out = '';
  for (const ch of id) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of Buffer.from(ch, 'utf8')) out += `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function decodeIdToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (token[i] === '_') {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) throw new Error(`bad escape in subject token ${token} at ${i}`);
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * `<prefix>.<kind>.<id token>`: the subject of a stream in the current layout.
 *
 * @example
 * ```ts
 * streamSubject('ms2m.events', { kind: 'VolumeResize', id: 'default/data-0' }); // 'ms2m.events.VolumeResize.default_2fdata-0'
 * ```
 */
export function streamSubject(prefix: string, key: StreamKey): string {
  if (!isKind(key.kind)) throw new Error(`${JSON.stringify(key.kind)} is not a kind name`);
  return `${prefix}.${key.kind}.${encodeIdToken(key.id)}`;
}

/** `<prefix>.<id token>`: the subject of a migration in the legacy layout (read and continued, never created). */
export const legacySubject = (prefix: string, id: string): string => `${prefix}.${encodeIdToken(id)}`;

/** Where a stream's events are: its subject and that subject's stored format. */
export interface StreamSubject {
  subject: string;
  key: StreamKey;
  format: EnvelopeFormat;
}

/**
 * The stream a subject holds; null when the subject is not a stream subject under `prefix`.
 *
 * @example
 * ```ts
 * streamOfSubject('ms2m.events', 'ms2m.events.default_2fm1'); // { key: { kind: 'StatefulMigration', id: 'default/m1' }, format: 'legacy', ... }
 * ```
 */
export function streamOfSubject(prefix: string, subject: string): StreamSubject | null {
  if (!subject.startsWith(`${prefix}.`)) return null;
  const tokens = subject.slice(prefix.length + 1).split('.');
  try {
    if (tokens.length === 1) {
      return { subject, key: { kind: LEGACY_KIND, id: decodeIdToken(tokens[0]!) }, format: 'legacy' };
    }
    if (tokens.length === 2 && isKind(tokens[0])) {
      return { subject, key: { kind: tokens[0], id: decodeIdToken(tokens[1]!) }, format: 'current' };
    }
  } catch {
    return null;
  }
  return null;
}
