/**
 * Repair of a torn last line, done only by a writer holding the file's lock: the unterminated bytes are kept
 * aside in a sidecar file next to the log (never destroyed), then the log is cut back to its last complete line.
 */
import { open } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { StreamKey } from '../../machines/envelope.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { unavailable } from './log-files.ts';

/** Suffix of the sidecar holding a dropped torn tail: `<file>.torn-<UTC timestamp>`. */
export const TORN_SUFFIX = '.torn-';

/**
 * Moves the torn tail of `file` (the `bytes` at `offset`, already checked to be an append of this log) into
 * `<file>.torn-<timestamp>`, truncates `file` to `offset`, syncs both and warns. Returns the sidecar's path.
 *
 * @example
 * ```ts
 * await keepTornTailAside({ file, key: { kind: 'StatefulMigration', id: 'default/m1' }, offset: 812, bytes: torn.bytes, logger });
 * ```
 */
export async function keepTornTailAside(opts: {
  file: string;
  key: StreamKey;
  offset: number;
  bytes: Buffer;
  logger: Logger;
}): Promise<string> {
  const { file, offset, bytes } = opts;
  const sidecar = `${file}${TORN_SUFFIX}${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    await writeFileAtomic(sidecar, bytes);
    const fh = await open(file, 'r+');
    try {
      await fh.truncate(offset);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw unavailable(file, err);
  }
  opts.logger.warn(
    { file, offset, droppedBytes: bytes.length, keptIn: sidecar, kind: opts.key.kind, id: opts.key.id },
    `Dropped torn last line of event log ${file} at byte offset ${offset} (${bytes.length} bytes, left by an interrupted write); kept them in ${sidecar}`,
  );
  return sidecar;
}
