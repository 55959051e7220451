/**
 * Typed errors shared by every adapter. Each has a stable `code`, keeps its `cause`, and says what failed,
 * on which object, and what to do. `transient` tells the runtime whether a retry with backoff may help.
 *
 * @example
 * ```ts
 * throw new NotFoundError('Pod', 'default/myapp-0', 'Check spec.sourcePod names a pod in the namespace');
 * ```
 */
export class Ms2mError extends Error {
  readonly code: string;
  readonly transient: boolean;
  readonly details: Record<string, unknown>;
  constructor(
    code: string,
    message: string,
    opts: { cause?: unknown; transient?: boolean; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.transient = opts.transient ?? false;
    this.details = opts.details ?? {};
  }
}

/** A normal "does not exist" where the caller needed it to exist. */
export class NotFoundError extends Ms2mError {
  constructor(kind: string, name: string, fix: string, cause?: unknown) {
    super('NOT_FOUND', `${kind} ${name} not found: ${fix}`, { cause, details: { kind, name } });
  }
}

/** A dependency could not be reached (connection refused, timeout, server restarting). Retrying may help. */
export class UnavailableError extends Ms2mError {
  constructor(what: string, message: string, cause?: unknown) {
    super('UNAVAILABLE', `${what} unavailable: ${message}`, { cause, transient: true, details: { what } });
  }
}

/** Input that can never succeed as given (bad spec, bad request). Retrying will not help. */
export class InvalidInputError extends Ms2mError {
  constructor(object: string, message: string, details: Record<string, unknown> = {}) {
    super('INVALID_INPUT', `${object}: ${message}`, { details: { object, ...details } });
  }
}

/** Normalises anything thrown into an Ms2mError, keeping the original as `cause`. */
export function toMs2mError(err: unknown, fallbackCode = 'INTERNAL'): Ms2mError {
  if (err instanceof Ms2mError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new Ms2mError(fallbackCode, message, { cause: err });
}
