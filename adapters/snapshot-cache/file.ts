import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CachedSnapshot, SnapshotCache } from './port.ts';

/**
 * Snapshot cache on disk: one JSON file per migration, written atomically (temp file + rename). A file that
 * cannot be read or parsed is treated as absent: the migration is folded from the log instead.
 *
 * @example
 * ```ts
 * const cache = await openFileSnapshotCache({ dir: '.ms2m/snapshots' });
 * ```
 */
export async function openFileSnapshotCache(opts: { dir: string }): Promise<SnapshotCache> {
  await mkdir(opts.dir, { recursive: true });
  const fileOf = (id: string) => join(opts.dir, `${encodeURIComponent(id).replace(/^\./, '%2E')}.json`);
  return {
    async getMany(ids) {
      const out = new Map<string, CachedSnapshot>();
      const read = async (id: string) => {
        try {
          const entry = JSON.parse(await readFile(fileOf(id), 'utf8')) as CachedSnapshot;
          if (entry.migrationId === id) out.set(id, entry);
        } catch {
          // absent or unreadable: fold from the log
        }
      };
      for (let i = 0; i < ids.length; i += 256) await Promise.all(ids.slice(i, i + 256).map(read));
      return out;
    },
    async put(entry) {
      const file = fileOf(entry.migrationId);
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(entry));
      await rename(tmp, file);
    },
  };
}
