import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../adapters/oci/layout.ts';
import type { CheckpointEntryWire } from './agent.wire.ts';
import { badRequest } from './errors.ts';

export interface StoredCheckpoint extends CheckpointEntryWire {
  path: string;
  /** OCI layout dir holding this checkpoint's image, when the loader made one. */
  layoutDir?: string;
}

export interface CheckpointStore {
  readonly dir: string;
  /** Creates the folders and deletes temp files a killed transfer left behind. */
  init(): Promise<void>;
  /** A fresh temp path inside the store (same filesystem as the archives, so rename is atomic). */
  tempPath(): string;
  get(id: string): Promise<StoredCheckpoint | null>;
  /** fsyncs `tmp`, renames it to the archive name atomically and records its metadata. */
  commit(tmp: string, meta: Omit<CheckpointEntryWire, 'id' | 'createdAt'>): Promise<StoredCheckpoint>;
  update(entry: StoredCheckpoint): Promise<void>;
  list(): Promise<StoredCheckpoint[]>;
  remove(id: string): Promise<boolean>;
  /** Removes archives older than `olderThanMs` (they hold process memory and secrets). */
  gc(olderThanMs: number): Promise<number>;
}

const ID = /^[a-f0-9]{64}$/;

/**
 * The agent's checkpoint store: `archives/<sha256>.tar` + `<sha256>.json`, `tmp/` for in-flight transfers,
 * `images/<container>/` OCI layouts. Everything the agent writes lives under `dir`.
 *
 * @example
 * ```ts
 * const store = createCheckpointStore({ dir: '/var/lib/ms2m-agent' });
 * await store.init();
 * ```
 */
export function createCheckpointStore(o: { dir: string; now?: () => number }): CheckpointStore {
  const now = o.now ?? Date.now;
  const archives = join(o.dir, 'archives');
  const tmpDir = join(o.dir, 'tmp');
  const checkId = (id: string) => {
    if (!ID.test(id)) throw badRequest(`Checkpoint id "${id.slice(0, 80)}" is not a sha256 hex digest`);
    return id;
  };
  const metaPath = (id: string) => join(archives, `${checkId(id)}.json`);
  const tarPath = (id: string) => join(archives, `${checkId(id)}.tar`);

  async function writeMeta(e: StoredCheckpoint): Promise<void> {
    const tmp = join(tmpDir, `${e.id}.${randomUUID()}.json`);
    await writeFile(tmp, JSON.stringify(e));
    await fsyncPath(tmp);
    await rename(tmp, metaPath(e.id));
  }

  const store: CheckpointStore = {
    dir: o.dir,
    async init() {
      await mkdir(archives, { recursive: true, mode: 0o700 });
      await rm(tmpDir, { recursive: true, force: true });
      await mkdir(tmpDir, { recursive: true, mode: 0o700 });
      await mkdir(join(o.dir, 'images'), { recursive: true, mode: 0o700 });
    },
    tempPath: () => join(tmpDir, `${randomUUID()}.part`),
    async get(id) {
      try {
        const e = JSON.parse(await readFile(metaPath(id), 'utf8')) as StoredCheckpoint;
        await stat(tarPath(id));
        return { ...e, path: tarPath(id) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    async commit(tmp, meta) {
      await fsyncPath(tmp);
      const id = checkId(meta.sha256);
      const existing = await store.get(id);
      if (existing) {
        await rm(tmp, { force: true });
        return existing;
      }
      await rename(tmp, tarPath(id));
      const e: StoredCheckpoint = { ...meta, id, createdAt: new Date(now()).toISOString(), path: tarPath(id) };
      await writeMeta(e);
      return e;
    },
    update: writeMeta,
    async list() {
      const names = await readdir(archives);
      const out: StoredCheckpoint[] = [];
      for (const n of names) {
        if (!n.endsWith('.json')) continue;
        const e = await store.get(n.slice(0, -5)).catch(() => null);
        if (e) out.push(e);
      }
      return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    async remove(id) {
      const e = await store.get(id);
      const layout = e?.layoutDir;
      // the layout is removed only while it still holds this checkpoint (a newer load replaces it)
      if (
        layout?.startsWith(join(o.dir, 'images')) &&
        (await stat(join(layout, 'blobs', 'sha256', id)).then(
          () => true,
          () => false,
        ))
      )
        await rm(layout, { recursive: true, force: true });
      await rm(metaPath(id), { force: true });
      await rm(tarPath(id), { force: true });
      return e !== null;
    },
    async gc(olderThanMs) {
      const cutoff = now() - olderThanMs;
      let removed = 0;
      for (const e of await store.list()) {
        if (Date.parse(e.createdAt) <= cutoff && (await store.remove(e.id))) removed++;
      }
      for (const n of await readdir(archives)) {
        // a .tar without metadata is an orphan of a crash between rename and meta write
        if (n.endsWith('.tar') && !(await store.get(n.slice(0, -4)).catch(() => null)))
          await rm(join(archives, n), { force: true });
      }
      return removed;
    },
  };
  return store;
}
