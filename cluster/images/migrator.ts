/**
 * The VolumeResize migrator image `ms2m/migrator`: Debian's rclone (with the shared libraries it loads), Debian's
 * static busybox (a shell and the coreutils the scripts need, one symlink per applet) and the two scripts of
 * `cluster/images/migrator/`:
 *
 * | program | what |
 * |---|---|
 * | `/usr/local/bin/ms2m-migrate [--no-verify \| --check-only] SRC DST` | rclone sync + links, FIFOs and directory metadata + rclone check and a manifest comparison |
 * | `/usr/local/bin/ms2m-usage DIR` | used bytes (apparent and allocated) and inodes, as one JSON line |
 *
 * Both Debian packages come from `scripts/install-migrator-tools.sh` (`apt-get install rclone busybox-static`);
 * their versions are image labels, so another Debian version gives another digest and the same one the same.
 * The image runs as root: the copy keeps every file's owner.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImageBuildError } from './errors.ts';
import type { ImageSpec } from './image.ts';
import type { LayerEntry, LayerSpec } from './layer.ts';
import { sharedLibraries } from './node-runtime.ts';

const execFileP = promisify(execFile);
const IMAGE = 'ms2m/migrator';
/** dpkg-query's format for the version (a dpkg field, not a template). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own placeholder syntax
export const DPKG_VERSION_FORMAT = '${Version}';
const FIX = 'run `bash scripts/install-migrator-tools.sh` (apt-get install rclone busybox-static)';

/** Where the programs sit in the image. */
export const MIGRATOR_PATHS = {
  rclone: '/usr/bin/rclone',
  busybox: '/bin/busybox',
  migrate: '/usr/local/bin/ms2m-migrate',
  usage: '/usr/local/bin/ms2m-usage',
} as const;

export interface MigratorSources {
  /** Default `/usr/bin/rclone` (Debian's rclone). */
  rclone?: string;
  /** Default `/bin/busybox` (Debian's busybox-static). */
  busybox?: string;
}

/** The image spec of `ms2m/migrator`, from the repo at `root` and the installed Debian packages. */
export async function migratorImage(root: string, src: MigratorSources = {}): Promise<ImageSpec> {
  const rclone = await installed(src.rclone ?? '/usr/bin/rclone', 'rclone');
  const busybox = await installed(src.busybox ?? '/bin/busybox', 'busybox');
  const applets = await busyboxApplets(busybox);
  const scripts = join(root, 'cluster', 'images', 'migrator');
  const labels: Record<string, string> = {
    'io.ms2m.rclone.version': await debianVersion('rclone', src.rclone),
    'io.ms2m.busybox.version': await debianVersion('busybox-static', src.busybox),
  };
  const rcloneLayer: LayerSpec = {
    name: `${IMAGE} rclone`,
    entries: [
      { path: MIGRATOR_PATHS.rclone, source: rclone, mode: 0o755 },
      ...(await sharedLibraries(rclone)).map((l) => ({ path: l, source: l, mode: 0o755 })),
    ],
    verify: async () => {
      const out = await run(rclone, ['version'], 'rclone version');
      if (!/^rclone v\d+\.\d+/.test(out)) throw new ImageBuildError('failed', IMAGE, `rclone version said: ${out}`);
    },
  };
  const busyboxLayer: LayerSpec = {
    name: `${IMAGE} busybox`,
    entries: [
      { path: MIGRATOR_PATHS.busybox, source: busybox, mode: 0o755 },
      ...applets
        .filter((a) => a !== 'busybox')
        .map((a): LayerEntry => ({ path: `/bin/${a}`, type: 'symlink', target: 'busybox' })),
      { path: '/etc/passwd', bytes: 'root:x:0:0:root:/root:/bin/sh\n' },
      { path: '/etc/group', bytes: 'root:x:0:\n' },
      { path: '/tmp', type: 'directory', mode: 0o1777 },
      { path: '/root', type: 'directory', mode: 0o700 },
    ],
    verify: async () => {
      const { stdout } = await execFileP('ldd', [busybox]).catch((e: { stdout?: string; stderr?: string }) => ({
        stdout: `${e.stdout ?? ''}${e.stderr ?? ''}`,
      }));
      if (!/not a dynamic executable|statically linked/.test(stdout))
        throw new ImageBuildError('invalid', IMAGE, `${busybox} is not static (install busybox-static)`);
    },
  };
  const scriptLayer: LayerSpec = {
    name: `${IMAGE} scripts`,
    entries: [
      { path: MIGRATOR_PATHS.migrate, source: join(scripts, 'ms2m-migrate'), mode: 0o755 },
      { path: MIGRATOR_PATHS.usage, source: join(scripts, 'ms2m-usage'), mode: 0o755 },
    ],
    verify: async () => {
      for (const s of ['ms2m-migrate', 'ms2m-usage']) await run(busybox, ['sh', '-n', join(scripts, s)], `sh -n ${s}`);
    },
  };
  return {
    name: IMAGE,
    layers: [rcloneLayer, busyboxLayer, scriptLayer],
    config: {
      entrypoint: [MIGRATOR_PATHS.migrate],
      env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'RCLONE_CONFIG=/dev/null', 'HOME=/root'],
      workingDir: '/',
      user: '0:0',
      labels,
    },
  };
}

async function installed(path: string, what: string): Promise<string> {
  return realpath(path).catch((err: unknown) => {
    throw new ImageBuildError('missing', IMAGE, `${what} not found at ${path}`, FIX, err);
  });
}

/** The applet names `busybox --list` prints (sorted, so the layer does not depend on their order). */
async function busyboxApplets(busybox: string): Promise<string[]> {
  const out = await run(busybox, ['--list'], 'busybox --list');
  const names = out.split('\n').filter((n) => /^[A-Za-z0-9_.[\]-]+$/.test(n));
  for (const need of ['sh', 'find', 'stat', 'du', 'sort', 'cmp', 'diff', 'mkfifo', 'touch', 'readlink'])
    if (!names.includes(need)) throw new ImageBuildError('invalid', IMAGE, `${busybox} has no ${need} applet`);
  return names.sort();
}

/** The Debian version of the package that holds `path` (or of `pkg` when no path was given). */
async function debianVersion(pkg: string, customPath?: string): Promise<string> {
  if (customPath) {
    const bytes = await readFile(customPath);
    return `file-sha256-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
  }
  try {
    const { stdout } = await execFileP('dpkg-query', ['-W', '-f', DPKG_VERSION_FORMAT, pkg], { timeout: 30_000 });
    if (stdout.trim()) return stdout.trim();
  } catch (err) {
    throw new ImageBuildError('missing', IMAGE, `the Debian package ${pkg} is not installed`, FIX, err);
  }
  throw new ImageBuildError('missing', IMAGE, `the Debian package ${pkg} is not installed`, FIX);
}

async function run(bin: string, args: string[], what: string): Promise<string> {
  try {
    return (await execFileP(bin, args, { timeout: 30_000, maxBuffer: 4 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string };
    throw new ImageBuildError('failed', IMAGE, `${what} failed: ${e.stderr ?? String(err)}`, undefined, err);
  }
}
