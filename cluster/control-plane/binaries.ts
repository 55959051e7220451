/**
 * Where the local cluster's binaries are: the version-keyed cache dirs that `cluster/build.sh` fills
 * (`cluster/build.sh --print-path` names them), or the dirs in `MS2M_BIN_PATH` (a PATH-style list).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const buildScript = fileURLToPath(new URL('../build.sh', import.meta.url));

/** A binary is missing from every dir searched. */
export class MissingBinaryError extends Error {
  readonly code = 'CLUSTER_BINARY_MISSING';
  constructor(
    readonly binary: string,
    readonly dirs: readonly string[],
  ) {
    super(
      `${binary} is not in ${dirs.join(', ') || '(no dirs)'}: build the cluster binaries with \`bash cluster/build.sh\` ` +
        '(12-16 min the first time; `npm test` runs it through scripts/setup.sh)',
    );
    this.name = 'MissingBinaryError';
  }
}

/** The dirs searched: `MS2M_BIN_PATH` if set, else the cache dirs `cluster/build.sh` builds into. */
export function binaryDirs(opts: { nodes?: boolean } = {}): string[] {
  const fromEnv = process.env.MS2M_BIN_PATH;
  const list = fromEnv
    ? fromEnv
    : execFileSync('bash', [buildScript, '--print-path', ...(opts.nodes ? ['--nodes'] : [])], {
        encoding: 'utf8',
        timeout: 30_000,
      }).trim();
  return list.split(':').filter((d) => d !== '');
}

/**
 * Full paths of `names`, each found in the first of `dirs` that has it.
 *
 * @example
 * ```ts
 * const bin = resolveBinaries(['etcd', 'kube-apiserver'], binaryDirs());
 * spawn(bin['kube-apiserver'], args);
 * ```
 */
export function resolveBinaries<N extends string>(names: readonly N[], dirs: readonly string[]): Record<N, string> {
  const out = {} as Record<N, string>;
  for (const name of names) {
    const found = dirs.map((d) => join(d, name)).find(isExecutable);
    if (!found) throw new MissingBinaryError(name, dirs);
    out[name] = found;
  }
  return out;
}

/** True when `path` exists and may be executed. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
