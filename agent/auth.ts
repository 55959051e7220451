import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Constant-time bearer check: both sides are hashed first, so neither content nor length leaks through timing.
 * The scheme name is case-insensitive (RFC 7235 §2.1: `bearer`, `BEARER` are `Bearer`); the token is not.
 *
 * @example
 * ```ts
 * const ok = bearerMatches(req, token);
 * ```
 */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  const m = /^bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  const given = m?.[1] ?? '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given.length > 0 && token.length > 0;
}
