import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** One entry of a directory tree as a reader must leave it: kind, mode, size, mtime, inode and content. */
export interface EntryState {
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  size: number;
  mtimeNs: bigint;
  ino: bigint;
  content?: string;
}

/**
 * Everything observable about `root` and what is under it (symlinks not followed, file contents base64), for
 * asserting that a reader changed nothing: byte for byte, mtime for mtime, and no entry created or removed.
 *
 * @example
 * ```ts
 * const before = await treeState(dir);
 * await readEverything(dir);
 * expect(await treeState(dir)).toEqual(before);
 * ```
 */
export async function treeState(root: string): Promise<EntryState[]> {
  const out: EntryState[] = [];
  const visit = async (path: string) => {
    const st = await lstat(path, { bigint: true });
    const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
    const entry: EntryState = {
      path: path.slice(root.length) || '.',
      kind,
      mode: Number(st.mode),
      size: Number(st.size),
      mtimeNs: st.mtimeNs,
      ino: st.ino,
    };
    if (kind === 'file') entry.content = (await readFile(path)).toString('base64');
    if (kind === 'symlink') entry.content = await readlink(path);
    out.push(entry);
    if (kind === 'dir') for (const name of (await readdir(path)).sort()) await visit(join(path, name));
  };
  await visit(root);
  return out;
}
