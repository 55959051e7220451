/**
 * The node runtime base layer: `/usr/bin/node` and every shared library it loads, found with `ldd` and copied
 * (symlinks followed) to the paths the binary asks for, the dynamic loader included at its own path
 * (`/lib64/ld-linux-x86-64.so.2` on x86-64). No npm, no shell: the images' entry points are node bundles.
 * glibc >= 2.34 has the `files` and `dns` NSS modules inside libc, so name lookups work from /etc/hosts and
 * /etc/resolv.conf (both mounted by the kubelet) without further libraries.
 */
import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ImageBuildError } from './errors.ts';
import type { LayerEntry, LayerSpec } from './layer.ts';

const execFileP = promisify(execFile);

/** Where the node binary sits in every image built on this layer. */
export const NODE_IN_IMAGE = '/usr/bin/node';

export const NODE_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A non-root user for images that do not need root (the operator's Deployment runs as 65532). */
export const NONROOT_UID = 65532;

/**
 * Parses `ldd` output into the absolute paths of the libraries, the loader included (`linux-vdso` has no file).
 *
 * @example
 * ```ts
 * parseLdd('\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f...)\n\t/lib64/ld-linux-x86-64.so.2 (0x7f...)');
 * // ['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']
 * ```
 */
export function parseLdd(out: string): string[] {
  const paths: string[] = [];
  const missing: string[] = [];
  for (const raw of out.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const arrow = /^(\S+)\s+=>\s+(.*?)(?:\s+\(0x[0-9a-f]+\))?$/.exec(line);
    if (arrow) {
      const target = arrow[2] ?? '';
      if (target === 'not found') missing.push(arrow[1] ?? line);
      else if (target.startsWith('/')) paths.push(target);
      continue;
    }
    const direct = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (direct?.[1]) paths.push(direct[1]);
  }
  if (missing.length) throw new Error(`libraries not found: ${missing.join(', ')}`);
  return [...new Set(paths)];
}

/** The shared libraries `binary` loads (empty for a static binary). */
export async function sharedLibraries(binary: string): Promise<string[]> {
  let out: string;
  try {
    out = (await execFileP('ldd', [binary], { maxBuffer: 1 << 20 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    if (/not a dynamic executable/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`)) return [];
    throw new ImageBuildError('failed', 'node runtime', `ldd ${binary} failed: ${e.stderr ?? String(err)}`);
  }
  try {
    return parseLdd(out);
  } catch (err) {
    throw new ImageBuildError('missing', 'node runtime', `${binary}: ${(err as Error).message}`, undefined, err);
  }
}

/**
 * The runtime layer for `nodeBinary` (default: the node running this build, so the images run the same Node
 * the bundles were checked with). Also `/etc/passwd` and `/etc/group` (root and `nonroot` 65532) and `/tmp`.
 *
 * @example
 * ```ts
 * const base = await nodeRuntimeLayer();
 * await buildImage(cache, { name: 'ms2m/node', layers: [base], config: { entrypoint: ['/usr/bin/node'] } });
 * ```
 */
export async function nodeRuntimeLayer(nodeBinary: string = process.execPath): Promise<LayerSpec> {
  const node = await realpath(nodeBinary).catch((err: unknown) => {
    throw new ImageBuildError('missing', 'node runtime', `node binary ${nodeBinary} not found`, undefined, err);
  });
  const libs = await sharedLibraries(node);
  const entries: LayerEntry[] = [
    { path: NODE_IN_IMAGE, source: node, mode: 0o755 },
    ...libs.map((l) => ({ path: l, source: l, mode: 0o755 })),
    {
      path: '/etc/passwd',
      bytes: `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT_UID}:${NONROOT_UID}:nonroot:/tmp:/sbin/nologin\n`,
    },
    { path: '/etc/group', bytes: `root:x:0:\nnonroot:x:${NONROOT_UID}:\n` },
    { path: '/tmp', type: 'directory', mode: 0o1777 },
    { path: '/root', type: 'directory', mode: 0o700 },
  ];
  return { name: 'node runtime', entries };
}
