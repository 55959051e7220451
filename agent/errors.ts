import { ErrorCode, Ms2mError } from '../adapters/errors.ts';

/**
 * An agent failure with the HTTP status it maps to. The JSON body is `{code, message}` (agent.wire.ts).
 *
 * @example
 * ```ts
 * throw new AgentError(ErrorCode.DIGEST_MISMATCH, 400, 'Checkpoint body sha256 differs from X-Checkpoint-Sha256');
 * ```
 */
export class AgentError extends Ms2mError {
  readonly status: number;
  constructor(code: ErrorCode, status: number, message: string, opts: { cause?: unknown; transient?: boolean } = {}) {
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
    ErrorCode.UNAUTHORIZED,
    401,
    'Agent request lacks a valid bearer token: use the token from the ms2m-agent Secret',
  );
export const tooLarge = (limit: number) =>
  new AgentError(
    ErrorCode.BODY_TOO_LARGE,
    413,
    `Checkpoint body exceeds the agent limit of ${limit} bytes: raise MS2M_AGENT_MAX_BODY_BYTES`,
  );
export const tooMany = (limit: number) =>
  new AgentError(ErrorCode.TOO_MANY_TRANSFERS, 429, `Agent already runs ${limit} transfers: retry later`, {
    transient: true,
  });
export const badRequest = (message: string) => new AgentError(ErrorCode.BAD_REQUEST, 400, message);
export const notFound = (what: string) => new AgentError(ErrorCode.NOT_FOUND, 404, `${what} not found`);
export const digestMismatch = (expected: string, actual: string) =>
  new AgentError(
    ErrorCode.DIGEST_MISMATCH,
    400,
    `Checkpoint body sha256 ${actual} differs from the announced ${expected}: the transfer was corrupted or tampered with; retry`,
  );

/** The caller went away mid-request (aborted upload, closed stream): a normal event, logged at info level. */
export const clientAborted = (what: string, cause?: unknown) =>
  new AgentError(
    ErrorCode.CLIENT_CLOSED_REQUEST,
    499,
    `${what}: the client closed the connection before it completed`,
    {
      transient: true,
      cause,
    },
  );
export const bodyIdle = (idleMs: number, received: number) =>
  new AgentError(
    ErrorCode.BODY_IDLE_TIMEOUT,
    408,
    `Request body stalled: no bytes for ${idleMs} ms after ${received} bytes; the agent dropped the upload and freed its transfer slot (retry; raise MS2M_AGENT_BODY_IDLE_MS on a very slow network)`,
    { transient: true },
  );
export const bodyTooSlow = (received: number, elapsedMs: number, why: string) =>
  new AgentError(
    ErrorCode.BODY_TOO_SLOW,
    408,
    `Request body too slow: ${received} bytes in ${Math.round(elapsedMs)} ms (${why}); the agent dropped the upload and freed its transfer slot (retry; see MS2M_AGENT_MIN_BODY_BYTES_PER_SECOND and MS2M_AGENT_MAX_BODY_MS)`,
    { transient: true },
  );
/** The loader built or found an image that does not hold what its name promises. Never answered as success. */
export const imageUnverified = (image: string, why: string) =>
  new AgentError(ErrorCode.IMAGE_VERIFY_FAILED, 500, `Checkpoint image ${image} failed verification: ${why}`);
/** The node's containerd cannot be reached through its socket (missing, not a socket, not answering). */
export const containerdUnavailable = (socket: string, why: string, cause?: unknown) =>
  new AgentError(
    ErrorCode.CONTAINERD_UNAVAILABLE,
    503,
    `containerd at ${socket} unavailable: ${why}; check that containerd runs on this node and that its socket is mounted into the agent pod at MS2M_AGENT_CONTAINERD_SOCKET`,
    { transient: true, cause },
  );
/** The `ctr` binary the containerd loader runs is not there. */
export const ctrNotFound = (ctr: string, cause?: unknown) =>
  new AgentError(
    ErrorCode.CTR_NOT_FOUND,
    500,
    `ctr not found at "${ctr}": the agent image ships a static ctr at /usr/local/bin/ctr; set MS2M_AGENT_CTR to its path`,
    { transient: false, cause },
  );
/** `ctr images import` failed or timed out; `why` carries ctr's own stderr. */
export const imageImportFailed = (image: string, why: string, transient: boolean) =>
  new AgentError(
    ErrorCode.IMAGE_IMPORT_FAILED,
    500,
    `Importing checkpoint image ${image} into containerd failed: ${why}`,
    { transient },
  );
/** A peer agent answered a transfer with an image or digest other than the one sent. */
export const peerAnswerMismatch = (peer: string, why: string) =>
  new AgentError(ErrorCode.ANSWER_MISMATCH, 502, `Target agent ${peer} answered for another checkpoint: ${why}`);

/** A tar entry that could escape the store or is not allowed in a checkpoint. */
export class UnsafeTarError extends AgentError {
  constructor(entry: string, reason: string) {
    super(ErrorCode.UNSAFE_TAR, 422, `Checkpoint archive rejected: entry "${entry.slice(0, 200)}" ${reason}`);
  }
}

export function toAgentError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  if (err instanceof Ms2mError) {
    const status = err.code === 'NOT_FOUND' ? 404 : err.code === 'INVALID_INPUT' ? 400 : err.transient ? 503 : 502;
    return new AgentError(err.code, status, err.message, { cause: err, transient: err.transient });
  }
  return new AgentError(ErrorCode.INTERNAL, 500, err instanceof Error ? err.message : String(err), { cause: err });
}
