import { UnsafeTarError } from './errors.ts';
import type { TarEntry } from './tar-header.ts';

/** Linux limits: longer names fail to extract on one extractor and not another (or defeat Python's realpath). */
const MAX_PATH_BYTES = 4095;
const MAX_COMPONENT_BYTES = 255;
/** Symlinks followed while resolving one path (Linux ELOOP limit). */
const MAX_FOLLOWS = 40;

type Node = { kind: 'dir' } | { kind: 'file' } | { kind: 'symlink'; target: string[] };

const KIND_NAMES = { dir: 'directory', file: 'regular file', symlink: 'symlink' } as const;

/** Splits an entry name into components: `./a//b/` -> [a, b]; throws for `..`, absolute, control chars. */
export function entryComponents(name: string, what = 'name'): string[] {
  if (name === '') throw new UnsafeTarError('(empty name)', `has an empty ${what}`);
  if (name.startsWith('/')) throw new UnsafeTarError(name, `has an absolute ${what}`);
  checkChars(name, name, what);
  const raw = name.split('/');
  if (raw.includes('..')) throw new UnsafeTarError(name, `has a ".." component in its ${what}`);
  // `./a` is how tar names members; `a/.` or `a/./b` it never writes, and extractors differ on them
  // (GNU tar: "a/.: Cannot open: File exists" for a file entry `a/.`; the check would have read it as `a`)
  const firstName = raw.findIndex((c) => c !== '' && c !== '.');
  if (firstName >= 0 && raw.slice(firstName).includes('.'))
    throw new UnsafeTarError(name, `has a "." component after the start of its ${what}`);
  return raw.filter((c) => c !== '' && c !== '.');
}

function checkChars(label: string, s: string, what: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
  if (/[\u0000-\u001f\u007f\\]/.test(s))
    throw new UnsafeTarError(label, `has a control character or backslash in its ${what}`);
  if (Buffer.byteLength(s) > MAX_PATH_BYTES)
    throw new UnsafeTarError(label, `has a ${what} over ${MAX_PATH_BYTES} bytes`);
  for (const c of s.split('/'))
    if (Buffer.byteLength(c) > MAX_COMPONENT_BYTES)
      throw new UnsafeTarError(label, `has a ${what} component over ${MAX_COMPONENT_BYTES} bytes`);
}

/**
 * The tree an extractor would build from the entries, kept as a map of paths (components joined by `/`).
 * Every entry is placed the way an extractor walking the filesystem would place it, and rejected when:
 * - its path passes through a symlink or a file (an archive made by tar never does; GNU tar writes links with
 *   `..` in their target as placeholders until the end, Python creates them at once, so they would disagree),
 * - it replaces an earlier entry (only a directory may repeat as a directory),
 * - it is a hardlink to anything but a regular file seen earlier (by a path that passes through no link),
 * - it is a symlink whose target is absolute, not in canonical form (Python's data filter rewrites those, GNU tar
 *   does not), or resolves outside the root when followed as a chain through the links seen so far.
 * `finish()` resolves every symlink again against the final tree, so a link that only escapes once a later link
 * exists is caught as well.
 *
 * @example
 * ```ts
 * const t = new TarTree();
 * t.add({ name: 'a', type: 'symlink', linkname: '.', size: 0, offset: 0 });
 * t.add({ name: 'a/b', type: 'symlink', linkname: '..', size: 0, offset: 512 }); // throws: inside symlink "a"
 * ```
 */
export class TarTree {
  private readonly nodes = new Map<string, Node>();

  add(e: TarEntry): void {
    const parts = entryComponents(e.name);
    const path = parts.join('/');
    if (parts.length === 0 && e.type !== 'directory')
      throw new UnsafeTarError(e.name, `is a ${e.type} that names the archive root`);
    this.ensureParents(e.name, parts);
    const existing = this.nodes.get(path);
    if (e.type === 'directory') {
      if (existing && existing.kind !== 'dir')
        throw new UnsafeTarError(
          e.name,
          `replaces the earlier ${KIND_NAMES[existing.kind]} "${path}" with a directory`,
        );
      if (parts.length > 0) this.nodes.set(path, { kind: 'dir' });
      return;
    }
    if (existing)
      throw new UnsafeTarError(
        e.name,
        `is a duplicate: it replaces the earlier ${KIND_NAMES[existing.kind]} "${path}" (extractors differ on replacing)`,
      );
    if (e.type === 'file') {
      this.nodes.set(path, { kind: 'file' });
    } else if (e.type === 'hardlink') {
      const target = entryComponents(e.linkname ?? '', 'hardlink target');
      if (target.length === 0) throw new UnsafeTarError(e.name, 'is a hardlink to the archive root');
      this.ensureParents(e.name, target, false);
      if (this.nodes.get(target.join('/'))?.kind !== 'file')
        throw new UnsafeTarError(
          e.name,
          `is a hardlink to "${e.linkname}", which is not a regular file earlier in the archive`,
        );
      this.nodes.set(path, { kind: 'file' });
    } else {
      const target = symlinkTarget(e.name, e.linkname ?? '');
      this.resolveOrThrow(e.name, parts.slice(0, -1), target);
      this.nodes.set(path, { kind: 'symlink', target });
    }
  }

  /** Resolves every symlink against the final tree: none may leave the root or loop. */
  finish(): void {
    for (const [path, node] of this.nodes)
      if (node.kind === 'symlink') this.resolveOrThrow(path, path.split('/').slice(0, -1), node.target);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Parents must be directories (made implicitly when missing, as extractors do); never links or files. */
  private ensureParents(label: string, parts: string[], create = true): void {
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      const n = this.nodes.get(p);
      if (!n) {
        if (!create)
          throw new UnsafeTarError(label, `refers to "${parts.join('/')}", whose folder "${p}" does not exist`);
        this.nodes.set(p, { kind: 'dir' });
      } else if (n.kind !== 'dir')
        throw new UnsafeTarError(
          label,
          `is inside "${p}", which is a ${KIND_NAMES[n.kind]}: entries are never extracted through links or files`,
        );
    }
  }

  private resolveOrThrow(label: string, from: string[], target: string[]): void {
    const r = this.resolve(from, target);
    if (r === 'escape')
      throw new UnsafeTarError(label, `is a symlink to "${target.join('/')}" that resolves outside the archive root`);
    if (r === 'loop') throw new UnsafeTarError(label, `is a symlink to "${target.join('/')}" in a loop of symlinks`);
  }

  /**
   * Follows `target` from the folder `from` the way the kernel does: component by component, each symlink met
   * replaced by its own target (relative to the link's folder), `..` taken from the real folder reached.
   */
  resolve(from: string[], target: string[]): string[] | 'escape' | 'loop' {
    const stack = [...from];
    const queue = [...target];
    let follows = 0;
    while (queue.length > 0) {
      const c = queue.shift() as string;
      if (c === '..') {
        if (stack.length === 0) return 'escape';
        stack.pop();
        continue;
      }
      stack.push(c);
      const n = this.nodes.get(stack.join('/'));
      if (n?.kind === 'symlink') {
        if (++follows > MAX_FOLLOWS) return 'loop';
        stack.pop();
        queue.unshift(...n.target);
      }
    }
    return stack;
  }
}

/**
 * A symlink target must be relative and canonical: `.`, or components without `.` or empty ones, `..` only as a
 * leading run (`../../a/b`). Python's data filter rewrites other forms (`x/..` becomes `.`) while GNU tar keeps them, and
 * the two then differ once `x` is itself a link.
 */
export function symlinkTarget(label: string, target: string): string[] {
  if (target === '') throw new UnsafeTarError(label, 'is a symlink without a target');
  if (target.startsWith('/'))
    throw new UnsafeTarError(label, `is a symlink to the absolute path "${target.slice(0, 200)}"`);
  checkChars(label, target, 'symlink target');
  if (target === '.') return [];
  const parts = target.split('/');
  let ups = true;
  for (const c of parts) {
    if (c === '' || c === '.' || (c === '..' && !ups))
      throw new UnsafeTarError(
        label,
        `is a symlink to "${target.slice(0, 200)}", which is not in canonical form (extractors would store it differently)`,
      );
    if (c !== '..') ups = false;
  }
  return parts;
}
