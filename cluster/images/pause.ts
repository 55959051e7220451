/**
 * Kubernetes' own pause program (`build/pause/linux/pause.c` of the `k8s.io/kubernetes` module the cluster is
 * built from), compiled statically with gcc as its Makefile does (`-Os -Wall -Werror -static
 * -DVERSION=v<TAG>-<REV>`), plus `-s` (stripped: the image holds one small file). The source comes from the Go
 * module cache; `go mod download` in `cluster/tools/kube` brings it when it is missing.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImageBuildError } from './errors.ts';

const execFileP = promisify(execFile);
const IMAGE = 'ms2m/pause';

export interface PauseSource {
  /** Path of pause.c. */
  path: string;
  /** `k8s.io/kubernetes` version it comes from. */
  kubeVersion: string;
  /** The pause image version of that release (the Makefile's TAG). */
  tag: string;
}

/** Finds pause.c of the Kubernetes version pinned in `<toolsDir>/kube/go.mod`, downloading the module if needed. */
export async function findPauseSource(toolsDir: string): Promise<PauseSource> {
  const modDir = join(toolsDir, 'kube');
  const gomod = await readFile(join(modDir, 'go.mod'), 'utf8').catch((err: unknown) => {
    throw new ImageBuildError('missing', IMAGE, `${modDir}/go.mod cannot be read`, undefined, err);
  });
  const kubeVersion = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\S+)/m.exec(gomod)?.[1];
  if (!kubeVersion) throw new ImageBuildError('invalid', IMAGE, `${modDir}/go.mod does not require k8s.io/kubernetes`);
  const modCache = await goModCache();
  const root = join(modCache, `k8s.io/kubernetes@${kubeVersion}`);
  const path = join(root, 'build/pause/linux/pause.c');
  if (!(await exists(path))) {
    try {
      await execFileP('go', ['mod', 'download', 'k8s.io/kubernetes'], { cwd: modDir, timeout: 600_000 });
    } catch (err) {
      const e = err as { stderr?: string };
      throw new ImageBuildError(
        'missing',
        IMAGE,
        `${path} is missing and \`go mod download k8s.io/kubernetes\` in ${modDir} failed: ${e.stderr ?? String(err)}`,
        'install Go >= 1.26 (see cluster/README.md) and check the Go module proxy is reachable',
        err,
      );
    }
    if (!(await exists(path))) throw new ImageBuildError('missing', IMAGE, `${path} not found after go mod download`);
  }
  const makefile = await readFile(join(root, 'build/pause/Makefile'), 'utf8').catch(() => '');
  const tag = /^TAG \?= (\S+)/m.exec(makefile)?.[1] ?? '0';
  return { path, kubeVersion, tag };
}

/**
 * Compiles pause.c into `<outDir>/pause` and checks it answers `-v`; returns the binary's bytes.
 *
 * @example
 * ```ts
 * const bytes = await compilePause(await findPauseSource('cluster/tools'));
 * ```
 */
export async function compilePause(src: PauseSource): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'ms2m-pause-'));
  const out = join(dir, 'pause');
  const version = `v${src.tag}-${src.kubeVersion}`;
  try {
    try {
      await execFileP(
        'gcc',
        ['-Os', '-Wall', '-Werror', '-static', '-s', `-DVERSION=${version}`, '-o', out, src.path],
        {
          timeout: 120_000,
        },
      );
    } catch (err) {
      const e = err as { code?: string; stderr?: string };
      if (e.code === 'ENOENT')
        throw new ImageBuildError('missing', IMAGE, 'gcc not found', 'apt-get install gcc libc6-dev', err);
      throw new ImageBuildError(
        'failed',
        IMAGE,
        `gcc -static ${src.path} failed: ${e.stderr ?? String(err)}`,
        'a static link needs libc6-dev (libc.a)',
        err,
      );
    }
    const { stdout } = await execFileP(out, ['-v'], { timeout: 10_000 }).catch((err: unknown) => {
      throw new ImageBuildError('failed', IMAGE, `the compiled pause does not run: ${String(err)}`, undefined, err);
    });
    if (stdout.trim() !== `pause.c ${version}`)
      throw new ImageBuildError('failed', IMAGE, `the compiled pause answered "${stdout.trim()}" to -v`);
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function goModCache(): Promise<string> {
  if (process.env.GOMODCACHE) return process.env.GOMODCACHE;
  try {
    const { stdout } = await execFileP('go', ['env', 'GOMODCACHE'], { timeout: 30_000 });
    if (stdout.trim()) return stdout.trim();
  } catch {
    // no go on PATH: Go's default below
  }
  return join(process.env.GOPATH || join(process.env.HOME ?? '', 'go'), 'pkg', 'mod');
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}
