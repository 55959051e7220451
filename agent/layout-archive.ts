import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isSha256Digest } from '../adapters/oci/digest.ts';
import { type IndexWire, type ManifestWire, MEDIA_INDEX } from '../adapters/oci/oci.wire.ts';

const BLOCK = 512;
/** ustar's 12-byte size field holds 11 octal digits: files from 8 GiB on need a pax `size` record. */
const USTAR_MAX_SIZE = 8 ** 11 - 1;

/**
 * An OCI image layout folder as an OCI archive (the tar that `ctr images import` reads): `oci-layout`,
 * `index.json` and exactly the blobs the index reaches (its manifests, their configs and layers), nothing else a
 * crash may have left in the folder. Generated while it is read, file by file in 1 MiB chunks: constant memory for a
 * layer of any size, no temporary archive on disk. POSIX ustar headers (mtime 0, uid/gid 0); a file of 8 GiB or more
 * gets a pax `size` record. A file whose size changes while it is read fails the stream.
 *
 * @example
 * ```ts
 * await pipeline(Readable.from(layoutArchive('/var/lib/ms2m-agent/images/<sha>/app')), child.stdin);
 * ```
 */
export async function* layoutArchive(dir: string): AsyncGenerator<Buffer> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as IndexWire;
  const blobs = new Set<string>();
  for (const m of index.manifests) {
    if (m.mediaType === MEDIA_INDEX) throw new Error(`layout ${dir}: nested index ${m.digest} is not supported`);
    const manifest = JSON.parse(await readFile(blobPath(dir, m.digest), 'utf8')) as ManifestWire;
    for (const d of [m.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) blobs.add(d);
  }
  yield tarHeader('blobs/', 0, '5');
  yield tarHeader('blobs/sha256/', 0, '5');
  yield* tarFile(join(dir, 'oci-layout'), 'oci-layout');
  yield* tarFile(join(dir, 'index.json'), 'index.json');
  for (const d of blobs) yield* tarFile(blobPath(dir, d), `blobs/sha256/${d.slice('sha256:'.length)}`);
  yield Buffer.alloc(2 * BLOCK);
}

function blobPath(dir: string, digest: string): string {
  if (!isSha256Digest(digest)) throw new Error(`layout ${dir}: "${digest}" is not a sha256 digest`);
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

async function* tarFile(path: string, name: string): AsyncGenerator<Buffer> {
  const size = (await stat(path)).size;
  yield tarHeader(name, size, '0');
  let sent = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    sent += (chunk as Buffer).length;
    if (sent > size) break;
    yield chunk as Buffer;
  }
  if (sent !== size) throw new Error(`${path} changed while it was archived (${size} bytes at start, read ${sent})`);
  if (size % BLOCK) yield Buffer.alloc(BLOCK - (size % BLOCK));
}

/**
 * The header block(s) of one entry: a pax extended header first when `size` does not fit ustar's field, then the
 * ustar header. `type` is the typeflag: `0` file, `5` folder.
 */
export function tarHeader(name: string, size: number, type: '0' | '5'): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name longer than 100 bytes: ${name}`);
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`tar entry ${name}: bad size ${size}`);
  if (size <= USTAR_MAX_SIZE) return ustar(name, size, type);
  const record = paxRecord('size', String(size));
  const pad = Buffer.alloc((BLOCK - (record.length % BLOCK)) % BLOCK);
  return Buffer.concat([
    ustar(`PaxHeaders/${name}`.slice(0, 100), record.length, 'x'),
    record,
    pad,
    ustar(name, 0, type),
  ]);
}

function ustar(name: string, size: number, type: '0' | '5' | 'x'): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 'utf8');
  octal(h, 100, 8, type === '5' ? 0o755 : 0o644);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, 0); // mtime
  h.write(type, 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

function octal(h: Buffer, at: number, len: number, n: number): void {
  h.write(`${n.toString(8).padStart(len - 1, '0')}\0`, at, 'latin1');
}

/** `"<length> <key>=<value>\n"`, where length counts the whole record including its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.from(`${len}${body}`, 'utf8');
}
