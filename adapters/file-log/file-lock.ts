import { randomBytes } from 'node:crypto';
import { link, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventLogUnavailableError } from '../event-log/port.ts';

/**
 * Per-process table of lock paths currently held or being acquired, with the tail of their waiter chain.
 * It is a process-wide fact (like the kernel's own lock table), so it is shared by every file log opened in
 * this process: two logs on the same directory serialize in memory instead of spinning on the lock file.
 */
const chains = new Map<string, Promise<void>>();

export interface LockOptions {
  /** Give up waiting for a live holder after this long (ms); default 30 s. */
  timeoutMs?: number;
  /** Called when a lock left by a dead process is taken over. */
  onStale?: (lockPath: string, deadPid: number) => void;
}

/**
 * Runs `fn` while holding the exclusive lock `lockPath`, across processes and within this one.
 *
 * The lock file holds the owner's pid. It is created atomically (`link` of a fully written temp file fails
 * with EEXIST when the lock is held), so a reader never sees a half-written owner. A lock whose owner pid is
 * no longer alive (the owner was killed) is stale: it is renamed away (atomic, one taker wins) and retried.
 *
 * @example
 * ```ts
 * const seq = await withFileLock('/var/lib/ms2m/log/default%2Fm1.jsonl.lock', async () => appendLine());
 * ```
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const previous = chains.get(lockPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  chains.set(lockPath, tail);
  await previous;
  try {
    await acquire(lockPath, opts);
    try {
      return await fn();
    } finally {
      await unlink(lockPath).catch(() => undefined);
    }
  } finally {
    release();
    if (chains.get(lockPath) === tail) chains.delete(lockPath);
  }
}

async function acquire(lockPath: string, opts: LockOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const started = Date.now();
  const tmp = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${process.pid}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, lockPath);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new EventLogUnavailableError(`cannot create lock ${lockPath}`, err);
        }
      }
      const owner = await readOwner(lockPath);
      // We hold this path's in-process chain, so a lock naming our own pid is a leftover of this process.
      if (owner !== undefined && (owner === process.pid || !isAlive(owner))) {
        if (await takeOverStale(lockPath, owner)) opts.onStale?.(lockPath, owner);
        continue;
      }
      if (Date.now() - started > timeoutMs) {
        throw new EventLogUnavailableError(
          `lock ${lockPath} held by pid ${owner ?? '?'} for over ${timeoutMs} ms; stop that process or remove the lock file if it is not running`,
        );
      }
      await sleep(Math.min(50, 1 + attempt) * (0.5 + Math.random()));
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function readOwner(lockPath: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(lockPath, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // released between our link and read: simply retry
  }
}

/** Renames the stale lock aside; only one taker's rename succeeds. Puts back a live lock taken by mistake. */
async function takeOverStale(lockPath: string, deadPid: number): Promise<boolean> {
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return false; // another taker won, or the owner released it
  }
  const owner = await readOwner(aside);
  if (owner !== deadPid && owner !== undefined && isAlive(owner) && owner !== process.pid) {
    // Between our read and our rename a live process took the lock: hand it back.
    await link(aside, lockPath).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    return false;
  }
  await unlink(aside).catch(() => undefined);
  return true;
}

/**
 * Removes temp and stale-aside files that a process killed mid-acquire left in `dir` (their pid is dead).
 * Lock files themselves are left alone: the next acquirer takes them over, and says so.
 *
 * @example
 * ```ts
 * await removeLeftoverLockFiles('/var/lib/ms2m/log');
 * ```
 */
export async function removeLeftoverLockFiles(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const m = /\.lock\.(?:stale\.)?(\d+)\.[0-9a-f]+(?:\.tmp)?$/.exec(name);
    if (m && !isAlive(Number(m[1]))) await unlink(join(dir, name)).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
