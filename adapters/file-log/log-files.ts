/**
 * Safe access to a log directory and its files, for readers and writers alike: the directory must be a
 * directory, a log file must be a regular file (a FIFO, socket or device named `*.jsonl` is never opened, so it
 * can neither block nor be read), and a read takes at most the size the file had when opened (a file that grows
 * or lies about its size, like those under /proc, cannot make it read forever).
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import { EventLogUnavailableError } from '../event-log/port.ts';

/** What was read from one log file. */
export interface LogFileBytes {
  buf: Buffer;
  ino: number;
  /** Offset just after the last byte read (the size when opened, or less if it shrank while being read); below
   * the requested offset when the file is now shorter than that. */
  size: number;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Checks that `dir` is an existing directory (symlinks followed). Throws NotFoundError when it does not exist,
 * InvalidInputError when it is something else, EventLogUnavailableError when it cannot be inspected.
 *
 * @example
 * ```ts
 * await assertLogDir('/var/lib/ms2m/log');
 * ```
 */
export async function assertLogDir(dir: string): Promise<void> {
  let st: Stats;
  try {
    st = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new NotFoundError('Event log directory', dir, 'check the path (reading a log never creates it)', err);
    }
    if (code === 'ENOTDIR') throw notADirectory(dir, 'a path component is not a directory');
    throw unavailable(dir, err);
  }
  if (!st.isDirectory()) throw notADirectory(dir, `it is ${kindOf(st)}`);
}

/**
 * Reads log file `path` from byte `from` to its size at open; `null` when it does not exist.
 *
 * @example
 * ```ts
 * const got = await readLogFile(join(dir, 'StatefulMigration@default%2Fm1.jsonl'));
 * if (got) parseChunk(streamOfFileName('StatefulMigration@default%2Fm1.jsonl')!, got.buf, 0, { file, offset: 0 });
 * ```
 */
export async function readLogFile(path: string, from = 0): Promise<LogFileBytes | null> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw unavailable(path, err);
  }
  assertRegular(path, st);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw unavailable(path, err);
  }
  try {
    const now = await fh.stat();
    assertRegular(path, now);
    const buf = Buffer.allocUnsafe(Math.max(0, now.size - from));
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, from + got);
      if (bytesRead === 0) break; // shrank meanwhile (a writer dropped a torn tail)
      got += bytesRead;
    }
    return { buf: buf.subarray(0, got), ino: now.ino, size: now.size < from ? now.size : from + got };
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
    throw unavailable(path, err);
  } finally {
    await fh.close();
  }
}

/**
 * Synchronous {@link readLogFile} (rebuild reads thousands of small files; sync reads are several times faster).
 *
 * @example
 * ```ts
 * const got = readLogFileSync(join(dir, 'StatefulMigration@default%2Fm1.jsonl'));
 * ```
 */
export function readLogFileSync(path: string, from = 0): LogFileBytes | null {
  let fd: number;
  try {
    assertRegular(path, statSync(path));
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof InvalidInputError) throw err;
    throw unavailable(path, err);
  }
  try {
    const now = fstatSync(fd);
    assertRegular(path, now);
    const buf = Buffer.allocUnsafe(Math.max(0, now.size - from));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
    return { buf: buf.subarray(0, got), ino: now.ino, size: now.size < from ? now.size : from + got };
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
    throw unavailable(path, err);
  } finally {
    closeSync(fd);
  }
}

/** Throws InvalidInputError unless `st` is a regular file. */
export function assertRegular(path: string, st: Stats): void {
  if (!st.isFile()) {
    throw new InvalidInputError(
      path,
      `is ${kindOf(st)}, not an event log file: an event log directory holds only regular files; move it out`,
      { path },
    );
  }
}

/** The errno of a failed file operation as a transient, actionable error. */
export function unavailable(path: string, err: unknown): EventLogUnavailableError {
  const code = (err as NodeJS.ErrnoException).code;
  const hint = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'check its permissions' : 'check the disk';
  return new EventLogUnavailableError(`cannot access ${path}${code ? ` (${code})` : ''}; ${hint}`, err);
}

function notADirectory(dir: string, why: string): InvalidInputError {
  return new InvalidInputError(dir, `is not a directory (${why}); an event log is a directory of *.jsonl files`, {
    path: dir,
  });
}

function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}
