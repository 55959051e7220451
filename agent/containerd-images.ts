import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ManifestWire, MEDIA_MANIFEST } from '../adapters/oci/oci.wire.ts';
import { manifestProblem } from './checkpoint-manifest.ts';
import { containerdUnavailable, ctrNotFound, imageImportFailed } from './errors.ts';
import { layoutArchive } from './layout-archive.ts';
import type { LoadRequest } from './loader.ts';

export interface ContainerdOptions {
  /** containerd's gRPC socket, e.g. `/run/containerd/containerd.sock` (mounted from the node). */
  socket: string;
  /** The ctr binary. Default `ctr` on PATH (the agent image has a static one at /usr/local/bin/ctr). */
  ctr?: string;
  /** containerd namespace the kubelet's CRI uses. Default `k8s.io`. */
  namespace?: string;
  /** Snapshotter the CRI runtime restores from (containerd's `snapshotter` setting). Default `overlayfs`. */
  snapshotter?: string;
  /** Time limit of each ctr call but the import (ms). Default 60 s. */
  timeoutMs?: number;
  /** The import may take `timeoutMs + bytes / minImportBytesPerSecond`. Default 8 MiB/s. */
  minImportBytesPerSecond?: number;
}

interface CtrRun {
  status: number | null;
  stdout: Buffer;
  /** The last 16 KiB of stderr, trimmed. */
  stderr: string;
  timedOut: boolean;
  /** Feeding stdin failed (not because ctr went away first). */
  feedError?: Error;
}

const MAX_STDOUT = 4 << 20;
const MAX_STDERR = 16 << 10;

/**
 * Checkpoint images in a node's containerd, through `ctr` on its socket: what the kubelet's CRI (namespace
 * `k8s.io`) restores from. containerd 2.x restores a container from an image whose manifest carries
 * `org.criu.checkpoint.container.name` by mounting a read-only view of the image's unpacked snapshot (chain ID of
 * the config's diff_ids) and reading the archive's files from it, so an import must also unpack into the
 * snapshotter the runtime uses.
 *
 * The import is `ctr images import --local --base-name localhost/checkpoint/<ctr> --snapshotter <s> -` fed an OCI
 * archive of the store's layout, generated while it streams (`layout-archive.ts`). `--local` makes ctr import and
 * unpack through containerd's content, image, snapshot and diff services and fail when the unpack fails; the default
 * transfer-service path skips the unpack silently when the snapshotter is not in its `unpack_config`.
 *
 * @example
 * ```ts
 * const ctrd = new ContainerdImages({ socket: '/run/containerd/containerd.sock' });
 * if ((await ctrd.verify(req, image, manifestDigest)) !== null) await ctrd.importLayout(layoutDir, image, req.bytes);
 * ```
 */
export class ContainerdImages {
  readonly socket: string;
  readonly namespace: string;
  readonly snapshotter: string;
  private readonly ctr: string;
  private readonly timeoutMs: number;
  private readonly minImportBytesPerSecond: number;

  constructor(o: ContainerdOptions) {
    this.socket = o.socket;
    this.ctr = o.ctr ?? 'ctr';
    this.namespace = o.namespace ?? 'k8s.io';
    this.snapshotter = o.snapshotter ?? 'overlayfs';
    this.timeoutMs = o.timeoutMs ?? 60_000;
    this.minImportBytesPerSecond = o.minImportBytesPerSecond ?? 8 << 20;
  }

  /** containerd's version; throws CONTAINERD_UNAVAILABLE or CTR_NOT_FOUND. For a check at start-up. */
  async serverVersion(): Promise<string> {
    const r = await this.mustRun(['version'], 'ctr version');
    return /Server:\s*\n\s*Version:\s*(\S+)/.exec(r.stdout.toString('utf8'))?.[1] ?? 'unknown';
  }

  /**
   * null when `image` names manifest `manifestDigest` in containerd, that manifest is `req`'s checkpoint image
   * (`manifestProblem`) and its layer is unpacked in the snapshotter; else why not. Throws when containerd cannot
   * be asked.
   */
  async verify(req: LoadRequest, image: string, manifestDigest: string): Promise<string | null> {
    const ls = await this.mustRun(['images', 'ls', `name==${image}`], 'ctr images ls');
    const row = ls.stdout
      .toString('utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[0] === image);
    if (!row) return `not in containerd (namespace ${this.namespace})`;
    const [, mediaType, target] = row;
    if (target !== manifestDigest) return `containerd names manifest ${target}, expected ${manifestDigest}`;
    if (mediaType !== MEDIA_MANIFEST) return `containerd's image ${image} is a ${mediaType}, not an OCI manifest`;
    const raw = (await this.mustRun(['content', 'get', manifestDigest], 'ctr content get')).stdout;
    if (`sha256:${createHash('sha256').update(raw).digest('hex')}` !== manifestDigest)
      return `containerd's content ${manifestDigest} does not hash to its name`;
    const problem = manifestProblem(JSON.parse(raw.toString('utf8')) as ManifestWire, req);
    if (problem) return problem;
    // a single layer's chain ID is its diff_id, the archive's digest (uncompressed layer)
    const snap = await this.run(['snapshots', '--snapshotter', this.snapshotter, 'info', `sha256:${req.sha256}`]);
    if (snap.timedOut)
      throw containerdUnavailable(this.socket, `ctr snapshots info timed out after ${this.timeoutMs} ms`);
    if (snap.status !== 0)
      return `its layer is not unpacked in containerd's ${this.snapshotter} snapshotter (${firstLine(snap.stderr)})`;
    const kind = (JSON.parse(snap.stdout.toString('utf8')) as { Kind?: string }).Kind;
    if (kind !== 'Committed') return `its ${this.snapshotter} snapshot is ${kind}, not Committed`;
    return null;
  }

  /**
   * Imports the OCI layout `layoutDir` (one manifest, tagged with `image`'s tag) as `image` and unpacks it.
   * Throws IMAGE_IMPORT_FAILED with ctr's stderr; the caller verifies the result.
   */
  async importLayout(layoutDir: string, image: string, bytes: number): Promise<void> {
    await this.checkSocket();
    const timeoutMs = this.timeoutMs + Math.ceil((bytes / this.minImportBytesPerSecond) * 1000);
    const base = image.slice(0, image.lastIndexOf(':'));
    const args = ['images', 'import', '--local', '--base-name', base, '--snapshotter', this.snapshotter, '-'];
    const r = await this.run(args, { timeoutMs, stdin: layoutArchive(layoutDir) });
    if (r.timedOut)
      throw imageImportFailed(
        image,
        `ctr images import did not finish within ${timeoutMs} ms (${bytes} bytes) and was killed; containerd at ${this.socket} may be overloaded: retry`,
        true,
      );
    if (r.feedError)
      throw imageImportFailed(image, `reading layout ${layoutDir} failed: ${r.feedError.message}`, false);
    if (r.status !== 0)
      throw imageImportFailed(image, `ctr exited with status ${r.status}: ${r.stderr || '(no output)'}`, false);
  }

  /** Removes `image` and, synchronously, the content and snapshots only it held. Missing is fine. */
  async remove(image: string): Promise<void> {
    await this.mustRun(['images', 'rm', '--sync', image], 'ctr images rm');
  }

  private async checkSocket(): Promise<void> {
    const st = await stat(this.socket).catch((err: NodeJS.ErrnoException) => {
      throw containerdUnavailable(this.socket, `its socket cannot be opened (${err.code})`, err);
    });
    if (!st.isSocket()) throw containerdUnavailable(this.socket, 'it is not a socket');
  }

  /** Runs ctr; any failure is containerd being unavailable (the commands used here fail for no other reason). */
  private async mustRun(args: string[], what: string): Promise<CtrRun> {
    await this.checkSocket();
    const r = await this.run(args);
    if (r.timedOut) throw containerdUnavailable(this.socket, `${what} timed out after ${this.timeoutMs} ms`);
    if (r.status !== 0)
      throw containerdUnavailable(this.socket, `${what} exited with status ${r.status}: ${r.stderr || '(no output)'}`);
    return r;
  }

  private run(args: string[], o: { timeoutMs?: number; stdin?: AsyncIterable<Buffer> } = {}): Promise<CtrRun> {
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const global = ['--address', this.socket, '--namespace', this.namespace, '--connect-timeout', '10s'];
    return new Promise<CtrRun>((resolve, reject) => {
      const child = spawn(this.ctr, [...global, ...args], {
        stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        env: { ...process.env, CONTAINERD_SUPPRESS_DEPRECATION_WARNINGS: '1' },
      });
      const stdout: Buffer[] = [];
      let outBytes = 0;
      let stderr = '';
      let timedOut = false;
      let feedError: Error | undefined;
      child.stdout?.on('data', (c: Buffer) => {
        if (outBytes < MAX_STDOUT) stdout.push(c);
        outBytes += c.length;
      });
      child.stderr?.on('data', (c: Buffer) => {
        stderr = (stderr + c.toString('utf8')).slice(-MAX_STDERR);
      });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      let exited = false;
      const feeding =
        o.stdin && child.stdin
          ? pipeline(Readable.from(o.stdin), child.stdin).catch((err: NodeJS.ErrnoException) => {
              // ctr going away first closes its stdin (EPIPE, premature close): its exit status tells why
              if (!exited && err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') {
                feedError = err;
                child.kill('SIGKILL');
              }
            })
          : Promise.resolve();
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(err.code === 'ENOENT' || err.code === 'EACCES' ? ctrNotFound(this.ctr, err) : err);
      });
      child.once('close', (status) => {
        exited = true;
        clearTimeout(timer);
        void feeding.then(() =>
          resolve({ status, stdout: Buffer.concat(stdout), stderr: stderr.trim(), timedOut, feedError }),
        );
      });
    });
  }
}

const firstLine = (s: string) => s.split('\n')[0] || '(no output)';
