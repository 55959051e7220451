/**
 * Durable whole-file writes: the one helper for every state file ms2m writes in place of an older version
 * (demo state, snapshot cache entries, torn-tail sidecars, directory markers). A crash at any point leaves either
 * the old file or the new one, never an empty or half-written one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename over `path`, fsync the
 * directory (so the rename itself survives a power loss). The temp file is removed if anything fails.
 * `sync: false` skips both fsyncs (still atomic against a process crash): only for content that verifies itself
 * on read, like snapshot cache entries, where a power loss may cost the entry but never yields a wrong one.
 *
 * @example
 * ```ts
 * await writeFileAtomic('.ms2m/demo/world-m1.json', JSON.stringify(world.save()));
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: { mode?: number; sync?: boolean } = {},
): Promise<void> {
  const sync = opts.sync ?? true;
  const tmp = tempNameFor(path);
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    renamed = true;
    if (sync) await fsyncDir(dirname(path));
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Synchronous {@link writeFileAtomic}, for state that must be on disk before the caller goes on (the demo's
 * simulated world is saved inside the change that it records, as a real API server persists before answering).
 *
 * @example
 * ```ts
 * world.journal.onChange = () => writeFileAtomicSync(worldFile, JSON.stringify(world.save()));
 * ```
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: { mode?: number } = {}): void {
  const tmp = tempNameFor(path);
  let renamed = false;
  try {
    const fd = openSync(tmp, 'wx', opts.mode ?? 0o644);
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    renamed = true;
    const dirFd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dirFd);
    } catch {
      // see fsyncDir
    } finally {
      closeSync(dirFd);
    }
  } finally {
    if (!renamed) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created, or already gone
      }
    }
  }
}

function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * fsyncs a directory so entries created, renamed or removed in it are durable. Filesystems that refuse fsync on
 * a directory are tolerated (the files' own data is synced separately).
 *
 * @example
 * ```ts
 * await fsyncDir('/var/lib/ms2m/log'); // after creating a new log file in it
 * ```
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // EINVAL/EBADF on some filesystems: nothing more can be done
  } finally {
    await fh.close();
  }
}

/**
 * True when `name` is a temp file {@link writeFileAtomic} used for a file named `base` (left behind by a kill),
 * so whoever owns `base` can clean it up.
 *
 * @example
 * ```ts
 * isAtomicTempOf('.world-a.json.4242.0badcafe.tmp', 'world-a.json'); // true
 * ```
 */
export function isAtomicTempOf(name: string, base: string): boolean {
  return name.startsWith(`.${base}.`) && /\.\d+\.[0-9a-f]{8}\.tmp$/.test(name.slice(base.length + 1));
}
