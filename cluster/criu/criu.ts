/**
 * CRIU from the private prefix that `scripts/install-criu.sh` builds (criu 4.2.1 on trixie's libc, see
 * cluster/README.md "CRIU"): where it is, and whether it can dump and restore on this machine.
 */
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const installScript = fileURLToPath(new URL('../../scripts/install-criu.sh', import.meta.url));
const INSTALL_HINT = 'run `bash scripts/install-criu.sh` (`npm test` runs it through scripts/setup.sh)';

/**
 * The oldest CRIU that works here: 4.1 cannot dump a process holding any inet socket on Linux >= 6.16
 * (`Can't get 1:16 opt: Operation not supported`, checkpoint-restore/criu#2718, fixed in 4.2), and 3.17 cannot
 * dump at all on this kernel (`vdso: Unexpected rt vDSO area bounds`).
 */
export const MIN_CRIU_VERSION = '4.2.0';

/** Every code a {@link CriuError} carries. Callers match on these, never on message text. */
export const CriuErrorCode = {
  /** The private prefix does not exist (or `criu` is not in it). */
  NOT_INSTALLED: 'CRIU_NOT_INSTALLED',
  /** `criu --version` did not run or printed no version. */
  NOT_RUNNABLE: 'CRIU_NOT_RUNNABLE',
  /** The installed CRIU is older than {@link MIN_CRIU_VERSION}. */
  TOO_OLD: 'CRIU_TOO_OLD',
  /** `criu check` failed: dump and restore will not work (not root, or the kernel lacks a required feature). */
  CHECK_FAILED: 'CRIU_CHECK_FAILED',
} as const;
export type CriuErrorCode = (typeof CriuErrorCode)[keyof typeof CriuErrorCode];

/**
 * CRIU is missing or unusable. The message says what failed and what to do; `cause` keeps the underlying error
 * (with CRIU's own output).
 *
 * @example
 * ```ts
 * try { await checkCriu(); } catch (e) { if (e instanceof CriuError && e.code === CriuErrorCode.NOT_INSTALLED) ... }
 * ```
 */
export class CriuError extends Error {
  readonly code: CriuErrorCode;
  constructor(code: CriuErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'CriuError';
    this.code = code;
  }
}

/** Where to look: `cacheDir` is the ms2m cache root (`MS2M_CACHE`; default `$XDG_CACHE_HOME/ms2m`). */
export interface CriuLocation {
  cacheDir?: string;
}

/**
 * The dir holding the private `criu` binary, as `scripts/install-criu.sh --print-path` names it. Builds nothing.
 *
 * @throws {CriuError} `CRIU_NOT_INSTALLED` when the script has not installed it
 * @example
 * ```ts
 * const env = { ...process.env, PATH: `${criuDir()}:${process.env.PATH}` }; // containerd finds runc's criu
 * ```
 */
export function criuDir(location: CriuLocation = {}): string {
  const env = location.cacheDir ? { ...process.env, MS2M_CACHE: location.cacheDir } : process.env;
  let dir: string;
  try {
    dir = execFileSync('bash', [installScript, '--print-path'], {
      encoding: 'utf8',
      env,
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (e) {
    // the script says what is missing and what to run
    const said = (e as { stderr?: string }).stderr?.trim().replace(/^ms2m criu: /, '');
    throw new CriuError(
      CriuErrorCode.NOT_INSTALLED,
      said
        ? `${said} (\`npm test\` runs it through scripts/setup.sh)`
        : `CRIU is not installed (${String(e)}): ${INSTALL_HINT}`,
      { cause: e },
    );
  }
  try {
    accessSync(join(dir, 'criu'), constants.X_OK);
  } catch (e) {
    throw new CriuError(
      CriuErrorCode.NOT_INSTALLED,
      `${join(dir, 'criu')} is missing or not executable: ${INSTALL_HINT}`,
      {
        cause: e,
      },
    );
  }
  return dir;
}

/** What {@link checkCriu} found. */
export interface CriuStatus {
  /** Upstream version, e.g. `4.2.1`. */
  version: string;
  /** Full path of the `criu` binary. */
  path: string;
  /**
   * What `criu check --all` reports missing on this kernel, in CRIU's words (e.g. `Dirty tracking is OFF. Memory
   * snapshot will not work.`, `failed to mount autofs: No such device`). These features fail; plain dump and
   * restore do not need them.
   */
  missing: string[];
  /** Memory dirty tracking (soft-dirty) works, so `criu pre-dump` and incremental dumps do. */
  preDump: boolean;
}

/**
 * Runs the private CRIU's `criu --version`, `criu check`, `criu check --all` and `criu check --feature
 * mem_dirty_track`. Usable means `criu check` passes (the kernel has everything dump and restore need; needs root);
 * what `--all` finds missing is reported in `missing`, not thrown.
 *
 * @throws {CriuError} `CRIU_NOT_INSTALLED`, `CRIU_NOT_RUNNABLE`, `CRIU_TOO_OLD` or `CRIU_CHECK_FAILED`
 * @example
 * ```ts
 * const criu = await checkCriu();
 * console.log(`criu ${criu.version} at ${criu.path}; pre-dump ${criu.preDump ? 'works' : 'does not work'}`);
 * // criu 4.2.1 at /root/.cache/ms2m/criu/criu-4.2.1-1-09b159be01ca77e3/bin/criu; pre-dump does not work
 * ```
 */
export async function checkCriu(location: CriuLocation = {}): Promise<CriuStatus> {
  const path = join(criuDir(location), 'criu');

  let versionOut: string;
  try {
    versionOut = (await run(path, ['--version'], { timeout: 30_000 })).stdout;
  } catch (e) {
    throw new CriuError(
      CriuErrorCode.NOT_RUNNABLE,
      `${path} --version failed (${outputOf(e)}): the prefix is broken; remove its dir and ${INSTALL_HINT}`,
      { cause: e },
    );
  }
  const version = /^Version:\s*(\d+\.\d+(?:\.\d+)?)/m.exec(versionOut)?.[1];
  if (!version) {
    throw new CriuError(
      CriuErrorCode.NOT_RUNNABLE,
      `${path} --version printed no version (${versionOut.trim().slice(0, 200)}): ${INSTALL_HINT}`,
    );
  }
  if (compareVersions(version, MIN_CRIU_VERSION) < 0) {
    throw new CriuError(
      CriuErrorCode.TOO_OLD,
      `${path} is CRIU ${version}; ms2m needs >= ${MIN_CRIU_VERSION} (older CRIU cannot dump TCP sockets on Linux >= 6.16): ${INSTALL_HINT}`,
    );
  }

  try {
    await run(path, ['check'], { timeout: 60_000 });
  } catch (e) {
    const root = process.getuid?.() === 0;
    throw new CriuError(
      CriuErrorCode.CHECK_FAILED,
      `\`${path} check\` failed, so dump and restore will not work here: ${outputOf(e)}` +
        (root
          ? '; the kernel lacks a feature CRIU needs (see criu.org/Linux_kernel)'
          : '; CRIU needs root (run as root)'),
      { cause: e },
    );
  }

  // `--all` exits 1 when anything is missing; its findings are CRIU's Warn/Error lines on stderr
  const all = await run(path, ['check', '--all'], { timeout: 60_000 }).then(
    (r) => r.stderr,
    (e: { stderr?: string }) => e.stderr ?? '',
  );
  const missing = [
    ...new Set(
      all
        .split('\n')
        .map((line) => /^(?:Warn|Error)\s*\([^)]*\):\s*(.+)$/.exec(line.trim())?.[1])
        .filter((m): m is string => m !== undefined),
    ),
  ];
  const preDump = await run(path, ['check', '--feature', 'mem_dirty_track'], { timeout: 60_000 }).then(
    () => true,
    () => false,
  );
  return { version, path, missing, preDump };
}

/** -1, 0 or 1 for dotted numeric versions (`4.2` = `4.2.0`). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

function outputOf(e: unknown): string {
  const { stderr, stdout, message } = e as { stderr?: string; stdout?: string; message?: string };
  const text =
    [stderr, stdout]
      .filter((s) => s?.trim())
      .join(' ')
      .trim() ||
    message ||
    String(e);
  return text.replace(/\s+/g, ' ').slice(0, 1000);
}
