/**
 * Typed errors shared by every adapter. Each has a stable `code` from {@link ErrorCode} (the one registry of
 * codes: callers match on it, never on message text), keeps its `cause` and any upstream code in `details`
 * (HTTP status, AMQP reply code, JetStream API code), and says what failed, on which object, and what to do.
 * `transient` tells the runtime whether a retry with backoff may help.
 *
 * @example
 * ```ts
 * throw new NotFoundError('Pod', 'default/myapp-0', 'Check spec.sourcePod names a pod in the namespace');
 * if (err instanceof Ms2mError && err.code === ErrorCode.STALE_WRITER) reread();
 * ```
 */

/**
 * Every error code ms2m uses. A code is part of the product's surface (it lands in `StepFailed` events, status
 * conditions and the agent's JSON errors): add codes, never rename or reuse one.
 */
export const ErrorCode = {
  // general
  NOT_FOUND: 'NOT_FOUND',
  UNAVAILABLE: 'UNAVAILABLE',
  INVALID_INPUT: 'INVALID_INPUT',
  CONFLICT: 'CONFLICT',
  FORBIDDEN: 'FORBIDDEN',
  INTERNAL: 'INTERNAL',
  // runtime (actors/)
  HOST_STOPPED: 'HOST_STOPPED',
  MISSING_CONTEXT: 'MISSING_CONTEXT',
  // event log
  STALE_WRITER: 'STALE_WRITER',
  CORRUPT_EVENT: 'CORRUPT_EVENT',
  EVENT_LOG_UNAVAILABLE: 'EVENT_LOG_UNAVAILABLE',
  // migration steps (actors/effects)
  SOURCE_NOT_FOUND: 'SOURCE_NOT_FOUND',
  SOURCE_NOT_RUNNING: 'SOURCE_NOT_RUNNING',
  CONTAINER_NOT_FOUND: 'CONTAINER_NOT_FOUND',
  STATEFULSET_NOT_FOUND: 'STATEFULSET_NOT_FOUND',
  TARGET_NAME_TAKEN: 'TARGET_NAME_TAKEN',
  TARGET_POD_GONE: 'TARGET_POD_GONE',
  TARGET_POD_STUCK: 'TARGET_POD_STUCK',
  TARGET_POD_FAILED: 'TARGET_POD_FAILED',
  TARGET_NOT_SWITCHED: 'TARGET_NOT_SWITCHED',
  // Kubernetes API
  KUBERNETES_API: 'KUBERNETES_API',
  WATCH_EXPIRED: 'WATCH_EXPIRED',
  WATCH_FAILED: 'WATCH_FAILED',
  // kubelet checkpoint API
  CHECKPOINT_UNSUPPORTED: 'CHECKPOINT_UNSUPPORTED',
  CHECKPOINT_FAILED: 'CHECKPOINT_FAILED',
  CHECKPOINT_TIMEOUT: 'CHECKPOINT_TIMEOUT',
  CHECKPOINT_EMPTY: 'CHECKPOINT_EMPTY',
  CHECKPOINT_FORBIDDEN: 'CHECKPOINT_FORBIDDEN',
  // OCI registry
  REGISTRY_UNAUTHORIZED: 'REGISTRY_UNAUTHORIZED',
  REGISTRY_ERROR: 'REGISTRY_ERROR',
  // RabbitMQ
  BROKER_CONNECT_REFUSED: 'BROKER_CONNECT_REFUSED',
  BROKER_ACCESS_REFUSED: 'BROKER_ACCESS_REFUSED',
  BROKER_CHANNEL_CLOSED: 'BROKER_CHANNEL_CLOSED',
  BROKER_PRECONDITION_FAILED: 'BROKER_PRECONDITION_FAILED',
  // node agent (its JSON errors carry these) and the agent client
  UNAUTHORIZED: 'UNAUTHORIZED',
  BAD_REQUEST: 'BAD_REQUEST',
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  TOO_MANY_TRANSFERS: 'TOO_MANY_TRANSFERS',
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  UNSAFE_TAR: 'UNSAFE_TAR',
  PEER_UNAVAILABLE: 'PEER_UNAVAILABLE',
  PEER_ERROR: 'PEER_ERROR',
  AGENT_ERROR: 'AGENT_ERROR',
  CLIENT_CLOSED_REQUEST: 'CLIENT_CLOSED_REQUEST',
  BODY_IDLE_TIMEOUT: 'BODY_IDLE_TIMEOUT',
  BODY_TOO_SLOW: 'BODY_TOO_SLOW',
  IMAGE_VERIFY_FAILED: 'IMAGE_VERIFY_FAILED',
  ANSWER_MISMATCH: 'ANSWER_MISMATCH',
  // node agent loading images into containerd (ctr)
  CONTAINERD_UNAVAILABLE: 'CONTAINERD_UNAVAILABLE',
  CTR_NOT_FOUND: 'CTR_NOT_FOUND',
  IMAGE_IMPORT_FAILED: 'IMAGE_IMPORT_FAILED',
  // command line (bin/): a wrong command, option or argument (exit code 2)
  USAGE: 'USAGE',
  // local cluster tooling (cluster/)
  PKI_OPENSSL_FAILED: 'PKI_OPENSSL_FAILED',
  CLUSTER_BINARY_MISSING: 'CLUSTER_BINARY_MISSING',
  CONTROL_PLANE_NOT_READY: 'CONTROL_PLANE_NOT_READY',
  // VolumeResize (adapters/volumes)
  PROBE_FAILED: 'PROBE_FAILED',
  PROVISIONING_FAILED: 'PROVISIONING_FAILED',
  MIGRATOR_FAILED: 'MIGRATOR_FAILED',
  CHECKSUM_MISMATCH: 'CHECKSUM_MISMATCH',
  // fakes (effect-journal.ts)
  INJECTED_TRANSIENT: 'INJECTED_TRANSIENT',
  INJECTED_PERMANENT: 'INJECTED_PERMANENT',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const registered: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** True when `code` is one of ours (codes read back from the wire or a log). */
export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && registered.has(code);

/**
 * A code received from another process (an agent's JSON error, a peer agent): kept when it is registered,
 * otherwise `fallback` (the unknown text stays in the message and `details.upstreamCode`).
 *
 * @example
 * ```ts
 * new AgentRequestError(node, res.status, errorCodeFromWire(body.code, ErrorCode.AGENT_ERROR), body.message, false);
 * ```
 */
export function errorCodeFromWire(code: unknown, fallback: ErrorCode): ErrorCode {
  return isErrorCode(code) ? code : fallback;
}

export class Ms2mError extends Error {
  readonly code: ErrorCode;
  readonly transient: boolean;
  readonly details: Record<string, unknown>;
  constructor(
    code: ErrorCode,
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
    super(ErrorCode.NOT_FOUND, `${kind} ${name} not found: ${fix}`, { cause, details: { kind, name } });
  }
}

/** A dependency could not be reached (connection refused, timeout, server restarting). Retrying may help. */
export class UnavailableError extends Ms2mError {
  constructor(what: string, message: string, cause?: unknown) {
    super(ErrorCode.UNAVAILABLE, `${what} unavailable: ${message}`, { cause, transient: true, details: { what } });
  }
}

/** Input that can never succeed as given (bad spec, bad request). Retrying will not help. */
export class InvalidInputError extends Ms2mError {
  constructor(object: string, message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.INVALID_INPUT, `${object}: ${message}`, { details: { object, ...details } });
  }
}

/** Normalises anything thrown into an Ms2mError, keeping the original as `cause`. */
export function toMs2mError(err: unknown, fallbackCode: ErrorCode = ErrorCode.INTERNAL): Ms2mError {
  if (err instanceof Ms2mError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new Ms2mError(fallbackCode, message, { cause: err });
}
