import { ErrorCode, Ms2mError } from '../errors.ts';
import type { RegistryErrorsWire } from './oci.wire.ts';

/**
 * A registry answered with an error. Keeps the HTTP status and the registry's error codes (`BLOB_UNKNOWN`,
 * `DIGEST_INVALID`, `DENIED`, ...). 5xx and 429 are transient.
 *
 * @example
 * ```ts
 * if (e instanceof RegistryError && e.registryCodes.includes('DENIED')) { ... }
 * ```
 */
export class RegistryError extends Ms2mError {
  readonly status: number;
  readonly registryCodes: string[];
  constructor(what: string, status: number, body: string, cause?: unknown) {
    const codes = registryCodes(body);
    const auth = status === 401 || status === 403;
    super(
      auth ? ErrorCode.REGISTRY_UNAUTHORIZED : ErrorCode.REGISTRY_ERROR,
      `${what} failed with HTTP ${status}${codes.length ? ` (${codes.join(', ')})` : ''}: ${body.trim().slice(0, 300)}${
        auth ? '; check the registry credentials and push permission on the repository' : ''
      }`,
      { cause, transient: status >= 500 || status === 429, details: { status, codes } },
    );
    this.status = status;
    this.registryCodes = codes;
  }
}

function registryCodes(body: string): string[] {
  try {
    const j = JSON.parse(body) as RegistryErrorsWire;
    return (j.errors ?? []).map((e) => e.code ?? '').filter(Boolean);
  } catch {
    return [];
  }
}
