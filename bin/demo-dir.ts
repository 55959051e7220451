/**
 * The demo's state directory. The demo only ever writes into a directory it owns (one holding its marker file,
 * `.ms2m-demo`), and only ever removes the files it created there: never the directory itself, never anything
 * else a user put next to them. A directory that is not empty and has no marker is refused.
 */
import { mkdir, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError } from '../adapters/errors.ts';
import { isAtomicTempOf, writeFileAtomic } from '../adapters/file-log/atomic-file.ts';
import { fileNameOf, legacyFileNameOf } from '../adapters/file-log/jsonl.ts';
import { MIGRATION_KIND } from '../machines/migration-chart.ts';

/** Marker file: its presence says the directory was created (or claimed empty) by `ms2m demo`. */
export const DEMO_MARKER = '.ms2m-demo';
/** Sub-directory of the embedded event log. */
export const DEMO_LOG_DIR = 'log';

/** The files a scenario writes: its world state, and its log file in `log/` (plus lock, torn and temp files). */
export function worldFileOf(dir: string, scenario: string): string {
  return join(dir, `world-${scenario}.json`);
}

/**
 * Makes `dir` ready for a new demo run. A missing directory is created with the marker; an empty one is claimed
 * (marker written); one with the marker has the files of an earlier run removed (only those). Anything else
 * (a file, a non-empty directory without the marker) is refused with InvalidInputError. Returns what it did.
 *
 * @example
 * ```ts
 * await prepareDemoDir('.ms2m/demo', Object.keys(SCENARIOS), (s) => `default/${s}`);
 * ```
 */
export async function prepareDemoDir(
  dir: string,
  scenarios: readonly string[],
  migrationIdOf: (scenario: string) => string,
): Promise<'created' | 'claimed' | 'cleaned'> {
  const entries = await listDir(dir);
  if (entries === null) {
    await mkdir(dir, { recursive: true });
    await writeMarker(dir);
    return 'created';
  }
  if (entries.length === 0) {
    await writeMarker(dir);
    return 'claimed';
  }
  if (!entries.includes(DEMO_MARKER)) {
    throw new InvalidInputError(
      `--dir ${dir}`,
      `is not empty and was not created by ms2m demo (no ${DEMO_MARKER} file in it); name a new or empty directory`,
    );
  }
  await removeEarlierRun(dir, entries, scenarios, migrationIdOf);
  return 'cleaned';
}

/**
 * Checks that `dir` is a demo directory (a child process of the demo is only ever started inside one).
 *
 * @example
 * ```ts
 * await assertDemoDir(opts.dir);
 * ```
 */
export async function assertDemoDir(dir: string): Promise<void> {
  const entries = await listDir(dir);
  if (entries === null || !entries.includes(DEMO_MARKER)) {
    throw new InvalidInputError(
      `--dir ${dir}`,
      `is not a demo directory (no ${DEMO_MARKER} file in it); run ms2m demo without --child`,
    );
  }
}

/** Names in `dir`, or null when it does not exist; InvalidInputError when it is not a directory. */
async function listDir(dir: string): Promise<string[] | null> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new InvalidInputError(`--dir ${dir}`, 'is not a directory; name a directory');
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') {
      throw new InvalidInputError(`--dir ${dir}`, 'is not a directory (a path component is a file)');
    }
    throw err;
  }
}

async function writeMarker(dir: string): Promise<void> {
  await writeFileAtomic(
    join(dir, DEMO_MARKER),
    `${JSON.stringify({ createdBy: 'ms2m demo', note: 'ms2m demo owns this directory and may remove the files it wrote here' })}\n`,
  );
}

/** Removes the world files and log files of `scenarios` (and their temp/lock/torn leftovers), nothing else. */
async function removeEarlierRun(
  dir: string,
  entries: readonly string[],
  scenarios: readonly string[],
  migrationIdOf: (scenario: string) => string,
): Promise<void> {
  const worlds = scenarios.map((s) => `world-${s}.json`);
  for (const name of entries) {
    if (worlds.some((w) => name === w || isAtomicTempOf(name, w))) await unlink(join(dir, name));
  }
  if (!entries.includes(DEMO_LOG_DIR)) return;
  const logDir = join(dir, DEMO_LOG_DIR);
  if (!(await stat(logDir)).isDirectory()) return;
  // a scenario's log file, in the current layout or (a demo directory of an earlier version) the legacy one
  const logFiles = scenarios.flatMap((s) => {
    const id = migrationIdOf(s);
    return [fileNameOf({ kind: MIGRATION_KIND, id }), legacyFileNameOf(id)];
  });
  for (const name of await readdir(logDir)) {
    // `<file>.jsonl`, `<file>.jsonl.lock…`, `<file>.jsonl.torn-…`: all written by the log for that migration
    if (logFiles.some((f) => name === f || name.startsWith(`${f}.`))) await unlink(join(logDir, name));
  }
  await rmdir(logDir).catch(() => undefined); // kept when something else is in it
}
