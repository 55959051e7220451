import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { isKind, type StreamKey } from '../../machines/envelope.ts';
import { writeFileAtomic } from '../file-log/atomic-file.ts';
import { readLogFile } from '../file-log/log-files.ts';
import type { CachedSnapshot, SnapshotCache } from './port.ts';

/**
 * First line of every entry file: the format and the sha256 of the second line (the entry's JSON). Format 2
 * keys entries by `(kind, id)`; files of format 1 (keyed by migration id) are never read again, so they only
 * cost a fold.
 */
const HEADER = 'ms2m-snapshot-cache/2 sha256:';
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Snapshot cache on disk: one file per stream, `<kind>@<encoded id>.json`, holding
 * `ms2m-snapshot-cache/2 sha256:<hex>` then the entry's JSON, written atomically (temp file + rename). An entry
 * is trusted only when its digest, shape, kind and id check out; anything else (older format, torn, edited, not
 * a regular file) is ignored with a warning and the stream is folded from the log instead. Reading never
 * writes: the directory is created by the first `put`.
 *
 * @example
 * ```ts
 * const cache = await openFileSnapshotCache({ dir: '.ms2m/snapshots', logger });
 * const rebuilt = await rebuildAll(log, { charts: [migrationChart], cache });
 * ```
 */
export async function openFileSnapshotCache(opts: { dir: string; logger?: Logger }): Promise<SnapshotCache> {
  const logger = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'snapshot-cache' });
  const fileOf = (key: StreamKey) => {
    if (!isKind(key.kind)) throw new TypeError(`${JSON.stringify(key.kind)} is not a kind name`);
    return join(opts.dir, `${key.kind}@${encodeURIComponent(key.id)}.json`);
  };
  let dirReady: Promise<unknown> | undefined;

  const read = async (key: StreamKey): Promise<CachedSnapshot | undefined> => {
    const file = fileOf(key);
    let problem: string;
    try {
      const st = await stat(file);
      if (!st.isFile()) problem = 'it is not a regular file';
      else {
        const got = await readLogFile(file);
        if (!got) return undefined;
        const checked = decodeEntry(got.buf, key);
        if (typeof checked !== 'string') return checked;
        problem = checked;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      problem = `it cannot be read (${code ?? (err as Error).message})`;
    }
    logger.warn(
      { file, kind: key.kind, id: key.id, problem },
      `Ignored snapshot cache entry ${file}: ${problem}; ${key.kind} ${key.id} is folded from the event log instead`,
    );
    return undefined;
  };

  return {
    async getMany(kind, ids) {
      const out = new Map<string, CachedSnapshot>();
      for (let i = 0; i < ids.length; i += 256) {
        const batch = ids.slice(i, i + 256);
        const entries = await Promise.all(batch.map((id) => read({ kind, id })));
        entries.forEach((e, j) => {
          if (e) out.set(batch[j] as string, e);
        });
      }
      return out;
    },
    async put(entry) {
      dirReady ??= mkdir(opts.dir, { recursive: true });
      await dirReady;
      await writeFileAtomic(fileOf(entry), encodeEntry(entry), { sync: false });
    },
  };
}

/**
 * The bytes of an entry file.
 *
 * @example
 * ```ts
 * await writeFile(file, encodeEntry(entry));
 * ```
 */
export function encodeEntry(entry: CachedSnapshot): string {
  const json = JSON.stringify(entry);
  return `${HEADER}${createHash('sha256').update(json).digest('hex')}\n${json}`;
}

/** The entry in `buf` if it is intact and for `key`, else what is wrong with it. */
function decodeEntry(buf: Buffer, key: StreamKey): CachedSnapshot | string {
  const nl = buf.indexOf(0x0a);
  const header = nl === -1 ? '' : buf.toString('latin1', 0, nl);
  if (!header.startsWith(HEADER)) return 'it is not in the ms2m-snapshot-cache/2 format (older or foreign file)';
  const body = buf.subarray(nl + 1);
  if (createHash('sha256').update(body).digest('hex') !== header.slice(HEADER.length)) {
    return 'its content does not match its sha256 (torn or edited)';
  }
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(body));
  } catch {
    return 'it is not UTF-8 JSON';
  }
  const e = value as Partial<CachedSnapshot> | null;
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return 'it is not a JSON object';
  if (e.kind !== key.kind || e.id !== key.id) return `it names ${JSON.stringify(e.kind)} ${JSON.stringify(e.id)}`;
  if (typeof e.seq !== 'number' || !Number.isInteger(e.seq) || e.seq < 1) return 'its seq is not a positive integer';
  if (typeof e.lastAt !== 'string' || typeof e.chart !== 'string' || typeof e.status !== 'string') {
    return 'lastAt, chart or status is not a string';
  }
  if (typeof e.machineVersion !== 'number') return 'its machineVersion is not a number';
  if (!('value' in e) || !('persisted' in e)) return 'value or persisted is missing';
  return e as CachedSnapshot;
}
