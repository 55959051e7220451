/**
 * Who the consumer is: its pod name (which names its control queue) and, when available, its pod UID.
 *
 * A process restored from a checkpoint keeps the source's memory: its environment, and anything it cached
 * (a hostname read once). Its new pod's name is only visible through the filesystem of the new container,
 * so the identity is read from the downward-API files every time the consumer (re)connects, never cached.
 * The UID tells two pods of the same name apart (a Sequential migration restores into a pod with the source's
 * name): a change of name or UID between two connections means the process now runs in another pod.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { IdentityUnavailableError } from './errors.ts';

/** Where the downward-API volume is mounted in the workload manifests. */
export const DEFAULT_PODINFO_DIR = '/etc/podinfo';
export const DEFAULT_NAME_FILE = `${DEFAULT_PODINFO_DIR}/name`;
export const DEFAULT_POD_NAME_ENV = 'POD_NAME';

export interface PodIdentity {
  /** The pod name: the control queue is `ms2m.control.<name>`. */
  name: string;
  /** The pod UID, when the downward-API `uid` file is mounted. */
  uid?: string;
  /** Where the name came from. */
  source: 'file' | 'env' | 'hostname';
}

export interface IdentityOptions {
  /** Downward-API file holding `metadata.name`. Default `/etc/podinfo/name`. */
  nameFile?: string;
  /** Downward-API file holding `metadata.uid`. Default: `uid` beside the name file. */
  uidFile?: string;
  /** Environment variable read when the name file is missing. Default `POD_NAME`. */
  envName?: string;
  /** The environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The hostname fallback (default `os.hostname()`, which asks the kernel every time). */
  hostname?: () => string;
}

/**
 * Reads the identity now: the name file, else the environment variable, else the hostname.
 *
 * @example
 * ```ts
 * const me = await readIdentity({ nameFile: '/etc/podinfo/name' });
 * console.log(me.name, me.uid, me.source); // 'consumer-0' '0b6e…' 'file'
 * ```
 */
export async function readIdentity(opts: IdentityOptions = {}): Promise<PodIdentity> {
  const nameFile = opts.nameFile ?? DEFAULT_NAME_FILE;
  const uidFile = opts.uidFile ?? join(dirname(nameFile), 'uid');
  const envName = opts.envName ?? DEFAULT_POD_NAME_ENV;
  const uid = await readTrimmed(uidFile, envName);
  const withUid = (id: Omit<PodIdentity, 'uid'>): PodIdentity => (uid ? { ...id, uid } : id);
  const fromFile = await readTrimmed(nameFile, envName);
  if (fromFile) return withUid({ name: fromFile, source: 'file' });
  const fromEnv = (opts.env ?? process.env)[envName]?.trim();
  if (fromEnv) return withUid({ name: fromEnv, source: 'env' });
  let host: string;
  try {
    host = (opts.hostname ?? hostname)().trim();
  } catch (err) {
    throw new IdentityUnavailableError(nameFile, envName, err);
  }
  if (host) return withUid({ name: host, source: 'hostname' });
  throw new IdentityUnavailableError(nameFile, envName);
}

/** True when two identities name different pods (a different name, or a different UID when both are known). */
export function isOtherPod(before: PodIdentity, now: PodIdentity): boolean {
  if (before.name !== now.name) return true;
  return before.uid !== undefined && now.uid !== undefined && before.uid !== now.uid;
}

/** The file's trimmed text; undefined when it is missing or empty. Any other read error is an error. */
async function readTrimmed(file: string, envName: string): Promise<string | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return text.length > 0 ? text : undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new IdentityUnavailableError(file, envName, err);
  }
}
