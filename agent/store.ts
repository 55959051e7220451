import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../adapters/oci/layout.ts';
import { badRequest } from './errors.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import type { LoadedImage } from './loader.ts';

/** One image made from a stored archive, for one container name. */
export interface StoredImage {
  container: string;
  /** `localhost/checkpoint/<container>:sha256-<archive sha256>` */
  image: string;
  via: LoadedImage['via'];
  /** `images/<sha256>/<container>`: the OCI layout, the archive hard-linked as its layer. */
  layoutDir: string;
  manifestDigest: string;
  loadedAt: string;
}

/** A stored archive, keyed by its sha256: `archives/<sha256>.tar` + `.json`. */
export interface StoredCheckpoint {
  id: string;
  sha256: string;
  bytes: number;
  /** The container and migration it was first received for. */
  container: string;
  migrationId?: string;
  /** Every migration that was answered with this archive. */
  migrationIds: string[];
  createdAt: string;
  /** Last time an answer named this archive (GC keeps what was used recently). */
  lastUsedAt: string;
  images: StoredImage[];
  path: string;
}

/** Writes for one digest, valid only inside `store.exclusive(id, ...)`. */
export interface CheckpointTx {
  get(): Promise<StoredCheckpoint | null>;
  /** fsyncs `tmp` (already verified to hash to the id), renames it to the archive name and records it. */
  commit(tmp: string, meta: { bytes: number; container: string; migrationId?: string }): Promise<StoredCheckpoint>;
  /** Writes the metadata atomically, `lastUsedAt` set to now. */
  save(e: StoredCheckpoint): Promise<void>;
  /** Deletes the archive, its metadata and `images/<sha256>/`. */
  remove(): Promise<void>;
}

export interface CheckpointStore {
  readonly dir: string;
  /** Creates the folders and deletes temp files a killed transfer left behind. */
  init(): Promise<void>;
  /** A fresh temp path inside the store (same filesystem as the archives, so rename is atomic). */
  tempPath(suffix?: string): string;
  get(id: string): Promise<StoredCheckpoint | null>;
  list(): Promise<StoredCheckpoint[]>;
  /** Runs `fn` holding the digest's lock: every write for one digest goes through here, one at a time. */
  exclusive<T>(id: string, fn: (tx: CheckpointTx) => Promise<T>): Promise<T>;
  /** Removes what a crash can leave: archives without metadata, image folders without an archive. */
  sweep(): Promise<void>;
  /** Wall-clock now (ms), the store's clock. */
  now(): number;
}

const ID = /^[a-f0-9]{64}$/;

/**
 * The agent's checkpoint store, keyed by content: `archives/<sha256>.tar` + `<sha256>.json`, `images/<sha256>/<ctr>/`
 * OCI layouts, `tmp/` for in-flight transfers and layouts being built. Nothing is keyed by container name alone.
 * Everything the agent writes lives under `dir`.
 *
 * @example
 * ```ts
 * const store = createCheckpointStore({ dir: '/var/lib/ms2m-agent' });
 * await store.init();
 * await store.exclusive(sha256, async (tx) => (await tx.get()) ?? tx.commit(tmp, { bytes, container: 'app' }));
 * ```
 */
export function createCheckpointStore(o: { dir: string; now?: () => number }): CheckpointStore {
  const now = o.now ?? Date.now;
  const archives = join(o.dir, 'archives');
  const images = join(o.dir, 'images');
  const tmpDir = join(o.dir, 'tmp');
  const locks = new KeyedMutex();
  const checkId = (id: string) => {
    if (!ID.test(id)) throw badRequest(`Checkpoint id "${id.slice(0, 80)}" is not a sha256 hex digest`);
    return id;
  };
  const metaPath = (id: string) => join(archives, `${checkId(id)}.json`);
  const tarPath = (id: string) => join(archives, `${checkId(id)}.tar`);
  const iso = () => new Date(now()).toISOString();

  async function read(id: string): Promise<StoredCheckpoint | null> {
    try {
      const raw = JSON.parse(await readFile(metaPath(id), 'utf8')) as Partial<StoredCheckpoint> & { image?: string };
      await stat(tarPath(id));
      return {
        id,
        sha256: id,
        bytes: raw.bytes ?? 0,
        container: raw.container ?? '',
        ...(raw.migrationId ? { migrationId: raw.migrationId } : {}),
        migrationIds: raw.migrationIds ?? (raw.migrationId ? [raw.migrationId] : []),
        createdAt: raw.createdAt ?? iso(),
        lastUsedAt: raw.lastUsedAt ?? raw.createdAt ?? iso(),
        // metadata of agents before content-named images carried one `image` (`:latest`): not trusted, rebuilt
        images: Array.isArray(raw.images) ? raw.images : [],
        path: tarPath(id),
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async function writeMeta(e: StoredCheckpoint): Promise<void> {
    const tmp = join(tmpDir, `${e.id}.${randomUUID()}.json`);
    const { path: _path, ...meta } = e;
    await writeFile(tmp, JSON.stringify(meta));
    await fsyncPath(tmp);
    await rename(tmp, metaPath(e.id));
  }

  const txFor = (id: string): CheckpointTx => ({
    get: () => read(id),
    async commit(tmp, meta) {
      await fsyncPath(tmp);
      await rename(tmp, tarPath(id)); // replaces an orphan of a crash between rename and metadata: same content
      const e: StoredCheckpoint = {
        id,
        sha256: id,
        bytes: meta.bytes,
        container: meta.container,
        ...(meta.migrationId ? { migrationId: meta.migrationId } : {}),
        migrationIds: meta.migrationId ? [meta.migrationId] : [],
        createdAt: iso(),
        lastUsedAt: iso(),
        images: [],
        path: tarPath(id),
      };
      await writeMeta(e);
      return e;
    },
    async save(e) {
      e.lastUsedAt = iso();
      await writeMeta(e);
    },
    async remove() {
      // metadata first: a crash part-way leaves an orphan that sweep() removes, never metadata without its archive
      await rm(metaPath(id), { force: true });
      await rm(join(images, id), { recursive: true, force: true });
      await rm(tarPath(id), { force: true });
    },
  });

  const store: CheckpointStore = {
    dir: o.dir,
    now,
    async init() {
      await mkdir(archives, { recursive: true, mode: 0o700 });
      await rm(tmpDir, { recursive: true, force: true });
      await mkdir(tmpDir, { recursive: true, mode: 0o700 });
      await mkdir(images, { recursive: true, mode: 0o700 });
    },
    tempPath: (suffix = '.part') => join(tmpDir, `${randomUUID()}${suffix}`),
    get: (id) => read(checkId(id)),
    async list() {
      const out: StoredCheckpoint[] = [];
      for (const n of await readdir(archives)) {
        if (!n.endsWith('.json') || !ID.test(n.slice(0, -5))) continue;
        const e = await read(n.slice(0, -5)).catch(() => null);
        if (e) out.push(e);
      }
      return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    exclusive: (id, fn) => locks.run(checkId(id), () => fn(txFor(id))),
    async sweep() {
      for (const n of await readdir(archives)) {
        const id = n.replace(/\.tar$/, '');
        if (n.endsWith('.tar') && ID.test(id))
          await locks.run(id, async () => {
            if (!(await read(id).catch(() => null))) await rm(tarPath(id), { force: true });
          });
      }
      for (const n of await readdir(images)) {
        if (!ID.test(n)) {
          await rm(join(images, n), { recursive: true, force: true }); // per-container layouts of older agents
          continue;
        }
        await locks.run(n, async () => {
          if (!(await read(n).catch(() => null))) await rm(join(images, n), { recursive: true, force: true });
        });
      }
    },
  };
  return store;
}
