import { InvalidInputError } from '../errors.ts';

export interface ImageReference {
  /** `host[:port]` */
  registry: string;
  /** repository path, e.g. `ckpt/myapp-0` */
  repository: string;
  /** tag or `sha256:...` digest */
  reference: string;
}

/**
 * Parses `host[:port]/repo/path:tag` (or `@sha256:...`). The first path part must look like a host (has a
 * dot or a colon, or is `localhost`): there is no implicit Docker Hub here.
 *
 * @example
 * ```ts
 * parseReference('127.0.0.1:5000/ckpt/myapp-0:checkpoint');
 * // { registry: '127.0.0.1:5000', repository: 'ckpt/myapp-0', reference: 'checkpoint' }
 * ```
 */
export function parseReference(ref: string): ImageReference {
  const slash = ref.indexOf('/');
  const host = slash > 0 ? ref.slice(0, slash) : '';
  if (!host || !(host.includes('.') || host.includes(':') || host === 'localhost')) {
    throw new InvalidInputError(
      `Image reference ${ref}`,
      'must start with a registry host, e.g. registry.local:5000/ckpt/pod:checkpoint',
    );
  }
  let rest = ref.slice(slash + 1);
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(rest)) {
    throw new InvalidInputError(`Image reference ${ref}`, `repository "${rest}" is not a valid OCI repository name`);
  }
  if (!/^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|sha256:[a-f0-9]{64})$/.test(reference)) {
    throw new InvalidInputError(`Image reference ${ref}`, `tag or digest "${reference}" is invalid`);
  }
  return { registry: host, repository: rest, reference };
}
