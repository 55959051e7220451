/**
 * The VolumeResize migrator image (cluster/images/migrator.ts): built from Debian's rclone and busybox-static,
 * pushed to a real registry, pulled back and unpacked, then its scripts run in a chroot of the unpacked image on
 * a tree with every kind of entry (owners, modes, empty dirs, links, a FIFO, a socket, a sparse file, hard links).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageConfigWire, ManifestWire } from '../../adapters/oci/oci.wire.ts';
import { buildImages, type ImageReport } from '../../cluster/images/build.ts';
import { DPKG_VERSION_FORMAT } from '../../cluster/images/migrator.ts';
import { type RegistryHarness, startRegistry } from '../harness/registry.ts';

const execFileP = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function pull(host: string, repo: string, ref: string, root: string) {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  expect(res.status).toBe(200);
  const manifest = (await res.json()) as ManifestWire;
  const blob = async (d: string) =>
    Buffer.from(await (await fetch(`http://${host}/v2/${repo}/blobs/${d}`)).arrayBuffer());
  const config = JSON.parse((await blob(manifest.config.digest)).toString()) as ImageConfigWire;
  for (const [i, l] of manifest.layers.entries()) {
    const bytes = await blob(l.digest);
    expect(`sha256:${sha256(bytes)}`).toBe(l.digest);
    const file = join(root, '..', `layer-${i}.tar`);
    writeFileSync(file, bytes);
    await execFileP('tar', ['-xpf', file, '-C', root]);
    rmSync(file);
  }
  return { manifest, config: config.config as Record<string, unknown> };
}

interface Run {
  code: number;
  lines: Record<string, unknown>[];
  stderr: string;
}

/** Runs a program of the image in a chroot of it; stdout parsed as JSON lines (every line must be JSON). */
async function inImage(root: string, cmd: string[]): Promise<Run> {
  const r = await execFileP('chroot', [root, ...cmd], {
    // the image's PATH (the host's chroot is found in /usr/sbin, which the image does not have)
    env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin', RCLONE_CONFIG: '/dev/null' },
    timeout: 60_000,
  }).then(
    (o) => ({ code: 0, stdout: o.stdout, stderr: o.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    }),
  );
  const lines = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.code, lines, stderr: r.stderr };
}

/** Every entry under `dir`: type, mode, owner, size and content digest of files, link targets, mtimes of files. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = join(dir, rel);
    const s = lstatSync(p);
    const mode = (s.mode & 0o7777).toString(8);
    const own = `${s.uid}:${s.gid}`;
    if (s.isSymbolicLink()) out[rel || '.'] = `link ${own} -> ${readlinkSync(p)}`;
    else if (s.isDirectory()) {
      out[rel || '.'] = `dir ${mode} ${own} ${Math.floor(s.mtimeMs / 1000)}`;
      for (const e of readdirSync(p)) walk(rel ? `${rel}/${e}` : e);
    } else if (s.isFIFO()) out[rel] = `fifo ${mode} ${own}`;
    else if (s.isSocket()) out[rel] = 'socket';
    else out[rel] = `file ${mode} ${own} ${s.size} ${Math.floor(s.mtimeMs / 1000)} ${sha256(readFileSync(p))}`;
  };
  walk('');
  return out;
}

describe.skipIf(!isRoot)(
  'ms2m/migrator: rclone and busybox from Debian, run in a chroot of the pulled image (needs root for chroot; CI runs as root)',
  () => {
    let reg: RegistryHarness;
    let dir: string;
    let root: string;
    let first: ImageReport;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'ms2m-migrator-test-'));
      reg = await startRegistry();
      first = (await buildImages({ registry: reg.host, cacheDir: join(dir, 'cache'), only: ['migrator'] }))
        .migrator as ImageReport;
      root = join(dir, 'rootfs');
      mkdirSync(root);
      await pull(reg.host, 'ms2m/migrator', 'latest', root);
      // as a container runtime does: rclone opens /dev/null and reads /proc at start (go-fuse's splice)
      mkdirSync(join(root, 'proc'), { recursive: true });
      mkdirSync(join(root, 'dev'), { recursive: true });
      await execFileP('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
      await execFileP('mount', ['--bind', '/dev', join(root, 'dev')]);
    });
    afterAll(async () => {
      for (const m of ['proc', 'dev']) if (root) await execFileP('umount', [join(root, m)]).catch(() => undefined);
      await reg?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('is built deterministically: the same digest from a fresh cache, nothing rebuilt from a warm one', async () => {
      expect(first.build).toBe('built');
      const warm = (await buildImages({ registry: reg.host, cacheDir: join(dir, 'cache'), only: ['migrator'] }))
        .migrator as ImageReport;
      expect(warm.build).toBe('cached');
      expect(warm.digest).toBe(first.digest);
      expect(warm.push.tagsPut).toEqual([]);
      const fresh = (await buildImages({ registry: reg.host, cacheDir: join(dir, 'cache-2'), only: ['migrator'] }))
        .migrator as ImageReport;
      expect(fresh.digest).toBe(first.digest);
    });

    it('holds rclone with its libraries, busybox applets and the scripts, with the Debian versions as labels', async () => {
      const { manifest, config } = await pull(reg.host, 'ms2m/migrator', first.digest, mkdtempSync(join(dir, 'x-')));
      expect(manifest.layers).toHaveLength(3);
      expect(config.Entrypoint).toEqual(['/usr/local/bin/ms2m-migrate']);
      expect(config.User).toBe('0:0');
      const labels = config.Labels as Record<string, string>;
      const { stdout: rcloneVersion } = await execFileP('dpkg-query', ['-W', '-f', DPKG_VERSION_FORMAT, 'rclone']);
      expect(labels['io.ms2m.rclone.version']).toBe(rcloneVersion);
      const { stdout } = await execFileP('chroot', [root, '/usr/bin/rclone', 'version']);
      expect(stdout).toMatch(/^rclone v1\.\d+/);
      expect(readlinkSync(join(root, 'bin', 'sh'))).toBe('busybox');
      const usage = await inImage(root, ['/usr/local/bin/ms2m-migrate']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/usage: ms2m-migrate/);
    });

    it('copies a tree with owners, modes, mtimes, empty dirs, links and FIFOs, and verifies it', async () => {
      const old = join(root, 'old');
      const neu = join(root, 'new');
      mkdirSync(join(old, 'data', 'deep'), { recursive: true });
      mkdirSync(join(old, 'empty'));
      mkdirSync(neu);
      writeFileSync(join(old, 'data', 'deep', 'marker'), 'replica-0\n');
      writeFileSync(join(old, 'big.bin'), Buffer.alloc(3 << 20, 7));
      writeFileSync(join(old, 'hard-a'), 'linked twice');
      await execFileP('ln', [join(old, 'hard-a'), join(old, 'hard-b')]);
      writeFileSync(join(old, 'sparse'), '');
      truncateSync(join(old, 'sparse'), 4 << 20);
      symlinkSync('data/deep/marker', join(old, 'link'));
      symlinkSync('/does/not/exist', join(old, 'dangling'));
      await execFileP('mkfifo', [join(old, 'data', 'fifo')]);
      await execFileP('python3', [
        '-c',
        `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(old, 'sock'))})`,
      ]);
      chownSync(join(old, 'data'), 999, 998);
      chownSync(join(old, 'data', 'deep', 'marker'), 999, 998);
      chmodSync(join(old, 'data', 'deep', 'marker'), 0o600);
      chmodSync(join(old, 'data'), 0o2750);
      utimesSync(join(old, 'data', 'deep'), new Date('2020-02-02T00:00:00Z'), new Date('2020-02-02T00:00:00Z'));
      // a stale file and a wrong link in the new volume (an earlier, interrupted copy) are replaced
      writeFileSync(join(neu, 'stale'), 'x');
      symlinkSync('elsewhere', join(neu, 'link'));

      const usage = await inImage(root, ['/usr/local/bin/ms2m-usage', '/old']);
      expect(usage.code).toBe(0);
      const u = usage.lines[0] as { apparentBytes: number; allocatedBytes: number; inodes: number };
      // hard links counted per link and the sparse file at its length: what the copy will write
      expect(u.apparentBytes).toBeGreaterThanOrEqual((3 << 20) + (4 << 20) + 2 * 'linked twice'.length);
      expect(u.allocatedBytes).toBeGreaterThanOrEqual(3 << 20);
      expect(u.allocatedBytes).toBeLessThan(u.apparentBytes);
      expect(u.inodes).toBe(Object.keys(snapshot(old)).length);

      const run = await inImage(root, ['/usr/local/bin/ms2m-migrate', '/old', '/new']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.lines.filter((l) => l.ms2m === 'phase').map((l) => l.phase)).toEqual(['sync', 'tree', 'check']);
      expect(run.lines).toContainEqual({ ms2m: 'skipped', path: 'sock', reason: 'socket' });
      expect(run.lines.at(-1)).toMatchObject({ ms2m: 'result', ok: true, verified: true });
      // rclone's JSON stats on stderr carry the bytes copied
      const stats = run.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { stats?: { bytes: number; totalBytes: number } })
        .filter((l) => l.stats);
      expect(stats.at(-1)?.stats?.bytes).toBe(stats.at(-1)?.stats?.totalBytes);
      expect(stats.at(-1)?.stats?.bytes).toBeGreaterThanOrEqual((3 << 20) + (4 << 20));
      const { sock: _s, ...want } = snapshot(old);
      expect(snapshot(neu)).toEqual(want);

      // a second run (a resumed copy) transfers nothing and still verifies
      const again = await inImage(root, ['/usr/local/bin/ms2m-migrate', '/old', '/new']);
      expect(again.lines.at(-1)).toMatchObject({ ok: true, verified: true });
      const lastStats = again.stderr
        .split('\n')
        .filter((l) => l.includes('"stats"'))
        .map((l) => JSON.parse(l) as { stats: { transfers: number } })
        .at(-1);
      expect(lastStats?.stats.transfers).toBe(0);
    });

    it('fails the check on a changed byte, and on a changed owner with the entry named', async () => {
      const marker = join(root, 'new', 'data', 'deep', 'marker');
      const before = lstatSync(marker);
      writeFileSync(marker, 'replica-X\n');
      utimesSync(marker, before.atime, before.mtime);
      const content = await inImage(root, ['/usr/local/bin/ms2m-migrate', '--check-only', '/old', '/new']);
      expect(content.code).toBe(1);
      expect(content.lines.at(-1)).toMatchObject({ ms2m: 'result', ok: false, step: 'check' });
      expect(content.stderr).toMatch(/"object":"data\/deep\/marker"/);

      writeFileSync(marker, 'replica-0\n');
      utimesSync(marker, before.atime, before.mtime);
      chownSync(join(root, 'new', 'big.bin'), 5, 5);
      const owner = await inImage(root, ['/usr/local/bin/ms2m-migrate', '--check-only', '/old', '/new']);
      expect(owner.code).toBe(1);
      expect(owner.lines.filter((l) => l.ms2m === 'difference').map((l) => l.entry)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^\+f 644 5:5 .* \.\/big\.bin$/)]),
      );
      expect(owner.lines.at(-1)).toMatchObject({ ok: false, step: 'check' });
    });

    it('refuses a volume that is not mounted and a device file, naming them', async () => {
      const missing = await inImage(root, ['/usr/local/bin/ms2m-migrate', '/old', '/nowhere']);
      expect(missing.lines.at(-1)).toMatchObject({
        ok: false,
        step: 'input',
        message: expect.stringMatching(/\/nowhere/),
      });
      await execFileP('mknod', [join(root, 'old', 'null'), 'c', '1', '3']);
      const dev = await inImage(root, ['/usr/local/bin/ms2m-migrate', '/old', '/new']);
      expect(dev.code).toBe(1);
      expect(dev.lines.at(-1)).toMatchObject({
        ok: false,
        step: 'input',
        message: expect.stringMatching(/device file \(null\)/),
      });
    });
  },
);
