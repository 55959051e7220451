/**
 * Kubernetes API errors -> ms2m's typed errors. The upstream HTTP status and the Status reason are kept in
 * `details`, so callers match on codes, never on message text.
 */
import { ApiException } from '@kubernetes/client-node';
import { ErrorCode, InvalidInputError, Ms2mError, UnavailableError } from '../errors.ts';

/** The Status object the API server returns with an error (wire shape). */
interface StatusWire {
  reason?: string;
  message?: string;
  details?: { causes?: Array<{ reason?: string; field?: string; message?: string }> };
}

function statusOf(err: ApiException<unknown>): StatusWire {
  const body = err.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusWire;
    } catch {
      return { message: body };
    }
  }
  return (body ?? {}) as StatusWire;
}

/** The HTTP status of a Kubernetes API error, or undefined when the request never got an answer. */
export function httpStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** `StatusCause.reason` of NamespaceLifecycle's refusal (k8s.io/api/core/v1 NamespaceTerminatingCause). */
const NAMESPACE_TERMINATING = 'NamespaceTerminating';

export const isNotFound = (err: unknown): boolean => httpStatus(err) === 404;
export const isConflict = (err: unknown): boolean => httpStatus(err) === 409;

/**
 * The operator's credentials may not do this: retrying will not help until its Role is fixed. Names the verb and
 * the resource, and the manifest that grants them.
 */
export class ForbiddenError extends Ms2mError {
  constructor(action: string, message: string, cause?: unknown) {
    super(
      ErrorCode.FORBIDDEN,
      `${action} was forbidden: ${message}. Grant it in the operator's roles (crds/rbac.yaml) or run with the service account bound to them`,
      { cause, details: { action, upstreamStatus: 403 } },
    );
  }
}

/**
 * Maps an error thrown by client-node for `action` (e.g. `Create Pod default/app-0-shadow`) to a typed error:
 * 401/403 ForbiddenError (a 403 because the namespace is being deleted: KUBERNETES_API, no RBAC advice);
 * 400/422 InvalidInputError listing the rejected fields; 409 CONFLICT (a caller that
 * expects conflicts handles it before this); 404 NOT_FOUND; 429, 5xx and network errors UnavailableError
 * (transient).
 *
 * @example
 * ```ts
 * try { await core.createNamespacedPod({ namespace, body }); } catch (err) { throw toKubernetesError(err, 'Create Pod default/x'); }
 * ```
 */
export function toKubernetesError(err: unknown, action: string): Ms2mError {
  if (err instanceof Ms2mError) return err;
  if (!(err instanceof ApiException)) {
    const message = err instanceof Error ? err.message : String(err);
    return new UnavailableError('Kubernetes API', `${action}: ${message}`, err);
  }
  const status = statusOf(err);
  const message = status.message ?? err.message;
  const details = { upstreamStatus: err.code, upstreamReason: status.reason };
  switch (err.code) {
    case 401:
    case 403:
      // NamespaceLifecycle answers 403 too, but no Role can fix a namespace that is being deleted
      if (status.details?.causes?.some((c) => c.reason === NAMESPACE_TERMINATING))
        return new Ms2mError(
          ErrorCode.KUBERNETES_API,
          `${action}: ${message}: the namespace is being deleted, nothing can be created in it`,
          { cause: err, details: { ...details, upstreamCause: NAMESPACE_TERMINATING } },
        );
      return new ForbiddenError(action, message, err);
    case 400:
    case 422: {
      const causes = status.details?.causes?.map((c) => `${c.field ?? '?'}: ${c.message ?? ''}`) ?? [];
      const invalid = new InvalidInputError(action, causes.length ? causes.join('; ') : message, details);
      // InvalidInputError takes no cause: keep the API's answer as its cause, like every other mapping here
      Object.defineProperty(invalid, 'cause', { value: err, writable: true, configurable: true });
      return invalid;
    }
    case 404:
      return new Ms2mError(ErrorCode.NOT_FOUND, `${action}: ${message}`, { cause: err, details });
    case 409:
      return new Ms2mError(ErrorCode.CONFLICT, `${action}: ${message}`, { cause: err, details, transient: true });
    default:
      if (err.code === 429 || err.code >= 500)
        return new UnavailableError('Kubernetes API', `${action}: ${err.code} ${message}`, err);
      return new Ms2mError(ErrorCode.KUBERNETES_API, `${action}: ${err.code} ${message}`, { cause: err, details });
  }
}
