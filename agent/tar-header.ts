import { UnsafeTarError } from './errors.ts';

/**
 * A strict, streaming reader of tar headers. It reads an archive the one way GNU tar, Python's `tarfile` and
 * Go's `archive/tar` all agree on, and rejects whatever they could read differently (see docs/agent.md, "Tar
 * policy"): only the entry types a checkpoint archive holds are accepted, every numeric field must be plain octal,
 * extension headers must be well formed and unambiguous, and nothing may follow the end-of-archive block.
 * Entry contents are skipped, never copied.
 */

/** The entry types a CRIU/kubelet checkpoint archive contains. Everything else is rejected. */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface TarEntry {
  /** Path as stored (after pax `path`, GNU `L` or the ustar prefix), UTF-8. */
  name: string;
  type: TarEntryType;
  /** Content bytes (0 for anything but a file). */
  size: number;
  /** Symlink target or hardlink target (archive-relative), for links only. */
  linkname?: string;
  /** Byte offset of the entry's own header (the first extension header's, if any) in the archive. */
  offset: number;
}

const BLOCK = 512;
/** Largest pax or GNU long-name payload accepted (names are at most 4 KiB; xattrs are small). */
export const MAX_EXTENSION_BYTES = 1 << 20;

/** Typeflags by byte, for messages: what a rejected entry is. */
const TYPE_NAMES: Record<string, string> = {
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a fifo',
  '7': 'a contiguous file (read as a plain file by some extractors only)',
  g: 'a pax global header (it changes every later entry)',
  X: 'a Solaris extended header',
  S: 'a GNU sparse file',
  V: 'a GNU volume label',
  M: 'a GNU multi-volume continuation',
  N: 'a GNU old-style long name',
  D: 'a GNU dump directory',
  I: 'a star inode-only entry',
};

/** pax keywords that change nothing an extractor writes, or that we apply the same way all extractors do. */
const PAX_KEYS = new Set(['path', 'linkpath', 'size', 'mtime', 'atime', 'ctime', 'uid', 'gid', 'uname', 'gname']);
const PAX_PREFIXES = ['SCHILY.xattr.'];
const PAX_DECIMAL = /^(0|[1-9][0-9]{0,17})$/;
const PAX_TIME = /^-?[0-9]{1,18}(\.[0-9]{1,9})?$/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeName(b: Buffer, what: string, at: number): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new UnsafeTarError(`(header at byte ${at})`, `has a ${what} that is not valid UTF-8`);
  }
}

/** Bytes up to the first NUL. */
function cstr(b: Buffer, off: number, len: number): Buffer {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return nul < 0 ? s : s.subarray(0, nul);
}

/**
 * A numeric header field: `[spaces] octal digits [NULs/spaces]` filling the whole field (GNU tar and Python
 * read nothing else the same way: Python stops the archive at a bad field, GNU tar goes on), or GNU base-256
 * (first byte 0x80) for big values. `optional` fields may be empty (all NUL). Returns null when invalid.
 */
export function parseNumeric(b: Buffer, optional = false): number | null {
  if (b[0] === 0x80) {
    let v = 0;
    for (let i = 1; i < b.length; i++) v = v * 256 + (b[i] as number);
    return Number.isSafeInteger(v) ? v : null;
  }
  let i = 0;
  while (i < b.length && b[i] === 0x20) i++;
  const start = i;
  while (i < b.length && (b[i] as number) >= 0x30 && (b[i] as number) <= 0x37) i++;
  const digits = i - start;
  while (i < b.length && (b[i] === 0 || b[i] === 0x20)) i++;
  if (i !== b.length) return null;
  if (digits === 0) return optional && start === 0 ? 0 : null;
  const v = Number.parseInt(b.toString('latin1', start, start + digits), 8);
  return Number.isSafeInteger(v) ? v : null;
}

/** Parses pax records strictly: `<len> <key>=<value>\n`, lengths exact, nothing else, no repeated key. */
export function parsePax(data: Buffer, at: number): Map<string, string> {
  const out = new Map<string, string>();
  const where = `(pax header at byte ${at})`;
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    const lenText = sp < 0 ? '' : data.toString('latin1', pos, sp);
    if (!/^[1-9][0-9]{0,7}$/.test(lenText)) throw new UnsafeTarError(where, 'has a malformed record length');
    const len = Number(lenText);
    const end = pos + len;
    if (end > data.length || data[end - 1] !== 0x0a)
      throw new UnsafeTarError(where, 'has a record whose length does not match its text');
    const rec = data.subarray(sp + 1, end - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new UnsafeTarError(where, 'has a record without "key="');
    const key = rec.toString('latin1', 0, eq);
    if (!/^[A-Za-z0-9._-]+$/.test(key)) throw new UnsafeTarError(where, `has an invalid keyword "${key.slice(0, 60)}"`);
    if (out.has(key)) throw new UnsafeTarError(where, `repeats keyword ${key}`);
    const value = decodeName(rec.subarray(eq + 1), `pax ${key} value`, at);
    if (value.includes('\0')) throw new UnsafeTarError(where, `has a NUL in ${key}`);
    if (!PAX_KEYS.has(key) && !PAX_PREFIXES.some((p) => key.startsWith(p)))
      throw new UnsafeTarError(
        where,
        `uses pax keyword ${key}${key.startsWith('GNU.sparse') ? ' (GNU sparse file)' : ''}, which extractors apply differently or not at all`,
      );
    if ((key === 'size' || key === 'uid' || key === 'gid') && !PAX_DECIMAL.test(value))
      throw new UnsafeTarError(where, `has a non-decimal ${key}="${value.slice(0, 40)}"`);
    if ((key === 'mtime' || key === 'atime' || key === 'ctime') && !PAX_TIME.test(value))
      throw new UnsafeTarError(where, `has an invalid ${key}="${value.slice(0, 40)}"`);
    out.set(key, value);
    pos = end;
  }
  return out;
}

type Extension = 'pax' | 'longname' | 'longlink';

/**
 * Feed it the archive's bytes in any chunking; it calls `onEntry` for each entry and throws UnsafeTarError at the
 * first thing it will not accept. `end()` checks the archive ended properly.
 *
 * @example
 * ```ts
 * const p = new TarHeaderParser((e) => console.log(e.name, e.type));
 * p.write(chunk); // throws UnsafeTarError
 * p.end();
 * ```
 */
export class TarHeaderParser {
  /** Bytes consumed so far. */
  offset = 0;
  private readonly block = Buffer.alloc(BLOCK);
  private fill = 0;
  /** Content (plus padding) of the current entry still to skip. */
  private skip = 0;
  /** Collecting an extension header's payload. */
  private ext: { kind: Extension; size: number; chunks: Buffer[]; got: number; at: number } | undefined;
  private pax: Map<string, string> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private firstHeaderAt: number | undefined;
  private ended = false;
  headers = 0;

  constructor(
    private readonly onEntry: (e: TarEntry) => void,
    private readonly o: { maxHeaders?: number } = {},
  ) {}

  write(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        if (this.ext) this.collect(chunk.subarray(off, off + n));
        this.skip -= n;
        off += n;
        this.offset += n;
        if (this.skip === 0 && this.ext) this.finishExtension();
        continue;
      }
      const n = Math.min(BLOCK - this.fill, chunk.length - off);
      chunk.copy(this.block, this.fill, off, off + n);
      this.fill += n;
      off += n;
      this.offset += n;
      if (this.fill === BLOCK) {
        this.fill = 0;
        this.onBlock();
      }
    }
  }

  /** The body is complete: throws unless the archive ended with its end-of-archive block and nothing else. */
  end(): void {
    if (!this.ended || this.fill !== 0 || this.skip !== 0)
      throw new UnsafeTarError(
        '(archive)',
        this.ended ? 'is not a whole number of 512-byte blocks' : 'is truncated: no end-of-archive block',
      );
  }

  private collect(b: Buffer): void {
    const ext = this.ext as NonNullable<typeof this.ext>;
    if (ext.got < ext.size) {
      const part = b.subarray(0, ext.size - ext.got);
      ext.chunks.push(Buffer.from(part));
      ext.got += part.length;
    }
  }

  private onBlock(): void {
    const b = this.block;
    const at = this.offset - BLOCK;
    if (this.ended) {
      if (b.some((x) => x !== 0))
        throw new UnsafeTarError('(archive)', `has data after its end-of-archive block (byte ${at})`);
      return;
    }
    if (b.every((x) => x === 0)) {
      // GNU tar and Python stop at the first zero block; tar-stream reads on. Nothing may follow it.
      if (this.ext || this.pax || this.longName !== undefined || this.longLink !== undefined)
        throw new UnsafeTarError('(archive)', 'ends with an extension header that applies to no entry');
      this.ended = true;
      return;
    }
    this.headers++;
    if (this.o.maxHeaders !== undefined && this.headers > this.o.maxHeaders)
      throw new UnsafeTarError('(archive)', `has more than ${this.o.maxHeaders} headers`);
    this.header(b, at);
  }

  private header(b: Buffer, at: number): void {
    const raw = cstr(b, 0, 100);
    const label = () => raw.toString('utf8').slice(0, 200) || `(header at byte ${at})`;
    const fail: (reason: string) => never = (reason) => {
      throw new UnsafeTarError(label(), reason);
    };
    const chk = parseNumeric(b.subarray(148, 156));
    let sum = 8 * 0x20;
    for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += b[i] as number;
    if (chk === null || chk !== sum) fail(`has a bad header checksum (byte ${at}): not a tar, or corrupted`);
    const magic = b.toString('latin1', 257, 265);
    const posix = magic === 'ustar\x0000';
    const gnu = magic === 'ustar  \x00';
    if (!posix && !gnu)
      fail('has a pre-POSIX (v7) or unknown header format: checkpoint archives are ustar, pax or GNU');
    const flag = String.fromCharCode(b[156] as number);
    const num = (off: number, len: number, what: string, optional = false) => {
      const v = parseNumeric(b.subarray(off, off + len), optional);
      if (v === null) fail(`has an invalid ${what} field (GNU tar and Python read it differently)`);
      return v as number;
    };
    num(100, 8, 'mode');
    num(108, 8, 'uid');
    num(116, 8, 'gid');
    const headerSize = num(124, 12, 'size');
    num(136, 12, 'mtime');
    num(329, 8, 'devmajor', true);
    num(337, 8, 'devminor', true);
    if (gnu && b.subarray(345, 500).some((x) => x !== 0))
      fail('is a GNU header with data in the prefix area (Python reads it as a path prefix, GNU tar does not)');
    this.firstHeaderAt ??= at;

    if (flag === 'x' || flag === 'L' || flag === 'K') {
      const kind: Extension = flag === 'x' ? 'pax' : flag === 'L' ? 'longname' : 'longlink';
      if (this.pax) fail('follows a pax header for the same entry (extractors keep different ones)');
      if (kind === 'pax' && (this.longName !== undefined || this.longLink !== undefined))
        fail('mixes a pax header with GNU long-name headers (GNU tar and Python pick different names)');
      if (kind === 'longname' && this.longName !== undefined) fail('repeats a GNU long-name header');
      if (kind === 'longlink' && this.longLink !== undefined) fail('repeats a GNU long-link header');
      if (headerSize === 0 || headerSize > MAX_EXTENSION_BYTES)
        fail(`is an extension header of ${headerSize} bytes (allowed 1..${MAX_EXTENSION_BYTES})`);
      this.ext = { kind, size: headerSize, chunks: [], got: 0, at };
      this.skip = Math.ceil(headerSize / BLOCK) * BLOCK;
      return;
    }

    let type: TarEntryType;
    if (flag === '0' || flag === '\0') type = 'file';
    else if (flag === '5') type = 'directory';
    else if (flag === '2') type = 'symlink';
    else if (flag === '1') type = 'hardlink';
    else {
      const code = b[156] as number;
      const what =
        TYPE_NAMES[flag] ??
        (code >= 0x41 && code <= 0x5a
          ? `a vendor-specific entry (typeflag '${flag}')`
          : `an unknown entry type (typeflag 0x${code.toString(16).padStart(2, '0')})`);
      fail(`is ${what}: only files, directories, symlinks and hardlinks are allowed in a checkpoint`);
    }

    const prefix = posix ? cstr(b, 345, 155) : Buffer.alloc(0);
    const headerName = decodeName(prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), raw]) : raw, 'name', at);
    const headerLink = cstr(b, 157, 100);
    const pax = this.pax;
    const name = pax?.get('path') ?? this.longName ?? headerName;
    const linkRaw =
      pax?.get('linkpath') ??
      this.longLink ??
      (headerLink.length ? decodeName(headerLink, 'link name', at) : undefined);
    const size = pax?.has('size') ? Number(pax.get('size')) : headerSize;
    const offset = this.firstHeaderAt;
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;
    this.firstHeaderAt = undefined;

    const entryFail: (reason: string) => never = (reason) => {
      throw new UnsafeTarError(name, reason);
    };
    if (type !== 'file' && size !== 0)
      entryFail(`is a ${type} with ${size} bytes of content (extractors disagree on them)`);
    if (type === 'symlink' || type === 'hardlink') {
      if (!linkRaw) entryFail(`is a ${type} without a target`);
    } else if (linkRaw !== undefined) entryFail(`is a ${type} with a link target "${linkRaw.slice(0, 100)}"`);
    if (type !== 'directory' && name.endsWith('/'))
      entryFail(`is a ${type} whose name ends in "/" (some extractors make it a directory)`);
    this.onEntry({ name, type, size, offset: offset ?? at, ...(linkRaw !== undefined ? { linkname: linkRaw } : {}) });
    this.skip = Math.ceil(size / BLOCK) * BLOCK;
  }

  private finishExtension(): void {
    const ext = this.ext as NonNullable<typeof this.ext>;
    this.ext = undefined;
    const data = Buffer.concat(ext.chunks);
    if (ext.kind === 'pax') {
      this.pax = parsePax(data, ext.at);
      return;
    }
    const nul = data.indexOf(0);
    if (nul <= 0 || data.subarray(nul).some((x) => x !== 0))
      throw new UnsafeTarError(
        `(GNU long ${ext.kind === 'longname' ? 'name' : 'link'} at byte ${ext.at})`,
        'is not one NUL-terminated name',
      );
    const value = decodeName(data.subarray(0, nul), 'long name', ext.at);
    if (ext.kind === 'longname') this.longName = value;
    else this.longLink = value;
  }
}
