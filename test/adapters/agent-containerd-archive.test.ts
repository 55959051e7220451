import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCheckpointLayout } from '../../adapters/oci/layout.ts';
import { layoutArchive, tarHeader } from '../../agent/layout-archive.ts';
import { type TarEntry, TarHeaderParser } from '../../agent/tar-header.ts';
import { seededBytes } from '../harness/agent.ts';

// The OCI archive the containerd loader streams into `ctr images import`: GNU tar must read it as exactly the
// layout's files, and the agent's own strict tar reader must accept it (including a pax size past ustar's 8 GiB).

describe('OCI archive of a checkpoint layout (streamed into ctr images import)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'ms2m-layout-archive-'));
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  async function collect(dir: string): Promise<Buffer> {
    const bufs: Buffer[] = [];
    for await (const b of layoutArchive(dir)) bufs.push(b);
    return Buffer.concat(bufs);
  }

  it('holds oci-layout, index.json and exactly the blobs the index reaches, byte for byte', async () => {
    const layer = join(root, 'ckpt.tar');
    writeFileSync(layer, seededBytes('layer')(3 * 1024 * 1024 + 17)); // not a multiple of 512: padding
    const dir = join(root, 'layout');
    const img = await writeCheckpointLayout({ dir, container: 'app', tarPath: layer, tag: 'sha256-x' });
    writeFileSync(join(dir, 'blobs', 'sha256', '.tmp-left-by-a-crash'), 'junk');
    const archive = await collect(dir);
    const out = join(root, 'out');
    mkdirSync(out);
    execFileSync('tar', ['-x', '-C', out], { input: archive });
    const config = (
      JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', img.manifestDigest.slice(7)), 'utf8')) as {
        config: { digest: string };
      }
    ).config.digest;
    const reachable = [img.manifestDigest, config, img.layerDigest].map((d) => d.slice(7));
    const blobs = readdirSync(join(out, 'blobs', 'sha256'));
    expect(blobs.sort()).toEqual([...reachable].sort());
    for (const f of ['oci-layout', 'index.json', ...blobs.map((b) => join('blobs', 'sha256', b))])
      expect(readFileSync(join(out, f)).equals(readFileSync(join(dir, f))), f).toBe(true);
    expect(
      createHash('sha256')
        .update(readFileSync(join(out, 'blobs', 'sha256', img.layerDigest.slice(7))))
        .digest('hex'),
    ).toBe(img.layerDigest.slice(7));
    // the agent's strict reader accepts it too (ustar, checksums, end blocks)
    const entries: TarEntry[] = [];
    const p = new TarHeaderParser((e) => entries.push(e));
    p.write(archive);
    p.end();
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['blobs/', 'directory'],
      ['blobs/sha256/', 'directory'],
      ['oci-layout', 'file'],
      ['index.json', 'file'],
      ...reachable.map((hex) => [`blobs/sha256/${hex}`, 'file']),
    ]);
  });

  it('a file of 8 GiB or more gets a pax size record that GNU tar and the agent read', () => {
    const size = 8 * 1024 ** 3 + 5;
    const h = tarHeader('blobs/sha256/big', size, '0');
    expect(h.length).toBe(3 * 512); // pax header, its record, the ustar header
    const entries: TarEntry[] = [];
    new TarHeaderParser((e) => entries.push(e)).write(h);
    expect(entries).toEqual([expect.objectContaining({ name: 'blobs/sha256/big', type: 'file', size })]);
    // GNU tar lists the entry with its full size before it finds the content missing
    const listing = execFileSync('sh', ['-c', 'tar -tvf - 2>/dev/null; true'], { input: h }).toString('utf8');
    expect(listing).toContain(String(size));
    expect(listing).toContain('blobs/sha256/big');
    expect(tarHeader('small', 8 ** 11 - 1, '0').length).toBe(512);
  });

  it('fails when a blob changes size while it is being archived', async () => {
    const layer = join(root, 'grows.tar');
    writeFileSync(layer, seededBytes('grows')(4096));
    const dir = join(root, 'layout-grows');
    const img = await writeCheckpointLayout({ dir, container: 'app', tarPath: layer, tag: 't' });
    const blob = join(dir, 'blobs', 'sha256', img.layerDigest.slice(7));
    let grown = false;
    await expect(
      (async () => {
        for await (const b of layoutArchive(dir)) {
          // once the layer's header went out, the layer grows (a writer that should not exist)
          if (b.length === 512 && b.subarray(0, 100).toString('latin1').includes(img.layerDigest.slice(7))) {
            writeFileSync(blob, seededBytes('grows')(8192));
            grown = true;
          }
        }
      })(),
    ).rejects.toThrow(/changed while it was archived \(4096 bytes at start, read 8192\)/);
    expect(grown).toBe(true);
  });
});
