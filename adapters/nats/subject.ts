/**
 * Migration id <-> NATS subject token. Migration ids look like `namespace/name`; a subject token may not hold
 * `.`, `*`, `>` or whitespace, so every byte outside `[A-Za-z0-9-]` is written as `_` + two lowercase hex
 * digits of its UTF-8 encoding (`_` itself too). The mapping is injective and reversible, and keeps ids
 * readable in `nats stream view`: `default/my.app` -> `default_2fmy_2eapp`.
 */
const SAFE = /^[A-Za-z0-9-]$/;

/**
 * Encodes a migration id as one subject token.
 *
 * @example
 * ```ts
 * encodeMigrationId('default/m1'); // 'default_2fm1'
 * decodeMigrationId('default_2fm1'); // 'default/m1'
 * ```
 */
export function encodeMigrationId(id: string): string {
  if (id.length === 0) throw new Error('migration id must not be empty');
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

export function decodeMigrationId(token: string): string {
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

/** `<prefix>.<encoded id>` */
export const migrationSubject = (prefix: string, id: string): string => `${prefix}.${encodeMigrationId(id)}`;

/** Inverse of {@link migrationSubject}; null when the subject is not under the prefix. */
export function migrationIdOfSubject(prefix: string, subject: string): string | null {
  if (!subject.startsWith(`${prefix}.`)) return null;
  const token = subject.slice(prefix.length + 1);
  if (token.includes('.')) return null;
  return decodeMigrationId(token);
}
