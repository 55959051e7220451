import { Ms2mError } from '../adapters/errors.ts';

/**
 * An agent failure with the HTTP status it maps to. The JSON body is `{code, message}` (agent.wire.ts).
 *
 * @example
 * ```ts
 * throw new AgentError('DIGEST_MISMATCH', 400, 'Checkpoint body sha256 differs from X-Checkpoint-Sha256');
 * ```
 */
export class AgentError extends Ms2mError {
  readonly status: number;
  constructor(code: string, status: number, message: string, opts: { cause?: unknown; transient?: boolean } = {}) {
    super(code, message, {
      cause: opts.cause,
      transient: opts.transient ?? (status === 429 || status >= 500),
      details: { status },
    });
    this.status = status;
  }
}

export const unauthorized = () =>
  new AgentError(
    'UNAUTHORIZED',
    401,
    'Agent request lacks a valid bearer token: use the token from the ms2m-agent Secret',
  );
export const tooLarge = (limit: number) =>
  new AgentError(
    'BODY_TOO_LARGE',
    413,
    `Checkpoint body exceeds the agent limit of ${limit} bytes: raise MS2M_AGENT_MAX_BODY_BYTES`,
  );
export const tooMany = (limit: number) =>
  new AgentError('TOO_MANY_TRANSFERS', 429, `Agent already runs ${limit} transfers: retry later`, { transient: true });
export const badRequest = (message: string) => new AgentError('BAD_REQUEST', 400, message);
export const notFound = (what: string) => new AgentError('NOT_FOUND', 404, `${what} not found`);
export const digestMismatch = (expected: string, actual: string) =>
  new AgentError(
    'DIGEST_MISMATCH',
    400,
    `Checkpoint body sha256 ${actual} differs from the announced ${expected}: the transfer was corrupted or tampered with; retry`,
  );

/** A tar entry that could escape the store or is not allowed in a checkpoint. */
export class UnsafeTarError extends AgentError {
  constructor(entry: string, reason: string) {
    super('UNSAFE_TAR', 422, `Checkpoint archive rejected: entry "${entry.slice(0, 200)}" ${reason}`);
  }
}

export function toAgentError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  if (err instanceof Ms2mError) {
    const status = err.code === 'NOT_FOUND' ? 404 : err.code === 'INVALID_INPUT' ? 400 : err.transient ? 503 : 502;
    return new AgentError(err.code, status, err.message, { cause: err, transient: err.transient });
  }
  return new AgentError('INTERNAL', 500, err instanceof Error ? err.message : String(err), { cause: err });
}
