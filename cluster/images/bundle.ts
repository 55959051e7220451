/**
 * One-file bundles of TypeScript entry points for the images: esbuild, platform node, ESM, target node20, with a
 * `createRequire` banner so bundled CommonJS dependencies can still `require()` Node's built-in modules. Each
 * bundle is run once on its own in an empty temp dir (no node_modules to fall back on) before it goes into a layer.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { ImageBuildError } from './errors.ts';

export const BUNDLE_BANNER =
  "import { createRequire as __ms2mCreateRequire } from 'node:module'; const require = __ms2mCreateRequire(import.meta.url);";

/** A quick run that shows a bundle starts: `node <bundle> ...args` must print `ready`. */
export interface BundleCheck {
  args: string[];
  /** Extra environment (PATH and HOME are passed through). */
  env?: Record<string, string>;
  /** Printed (stdout or stderr) once the program has started. */
  ready: RegExp;
  /**
   * `exit`: the program ends by itself with status 0 (`--help`). `signal`: it keeps running (a server); it gets
   * SIGTERM once `ready` is printed and must then exit with status 0.
   */
  until: 'exit' | 'signal';
}

/**
 * Bundles `entry` (a path relative to `root`) into one ESM file. Paths in the output are relative to `root`, so
 * the bytes do not depend on where the repo is checked out.
 *
 * @example
 * ```ts
 * const js = await bundleEntry({ root: '/work/main', entry: 'agent/main.ts', image: 'ms2m/agent' });
 * ```
 */
export async function bundleEntry(p: { root: string; entry: string; image: string }): Promise<Buffer> {
  const file = join(p.root, p.entry);
  if (!(await stat(file).catch(() => null)))
    throw new ImageBuildError('missing', p.image, `entry point ${p.entry} does not exist`);
  try {
    const r = await build({
      absWorkingDir: p.root,
      entryPoints: [relative(p.root, file)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: 'bundle.mjs',
      write: false,
      banner: { js: BUNDLE_BANNER },
      legalComments: 'none',
      logLevel: 'silent',
    });
    const out = r.outputFiles.find((f) => f.path.endsWith('.mjs'));
    if (!out) throw new Error('esbuild wrote no .mjs output');
    return Buffer.from(out.contents);
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    const text = errors?.length
      ? errors
          .slice(0, 5)
          .map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
          .join('; ')
      : String(err);
    throw new ImageBuildError('failed', p.image, `esbuild could not bundle ${p.entry}: ${text}`, undefined, err);
  }
}

/**
 * Runs a bundle with `node` in an empty temp dir and checks it starts (see {@link BundleCheck}).
 *
 * @example
 * ```ts
 * await checkBundle({ image: 'ms2m/operator', bytes, node: process.execPath,
 *   check: { args: ['--help'], ready: /Usage: ms2m-operator/, until: 'exit' } });
 * ```
 */
export async function checkBundle(p: {
  image: string;
  bytes: Buffer;
  node: string;
  check: BundleCheck;
  timeoutMs?: number;
}): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ms2m-bundle-check-'));
  try {
    const file = join(dir, 'bundle.mjs');
    await writeFile(file, p.bytes);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...p.check.env };
    for (const [k, v] of Object.entries(env)) env[k] = v.replaceAll('$CHECK_DIR', dir);
    const child = spawn(p.node, [file, ...p.check.args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let ready = false;
    let signalled = false;
    const result = await new Promise<{ code: number | null; signal: string | null; timedOut: boolean }>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve({ code: null, signal: 'SIGKILL', timedOut: true });
      }, p.timeoutMs ?? 30_000);
      const onData = (c: Buffer) => {
        output = (output + c.toString()).slice(-8000);
        if (!ready && p.check.ready.test(output)) {
          ready = true;
          if (p.check.until === 'signal' && !signalled) {
            signalled = true;
            child.kill('SIGTERM');
          }
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', (err) => {
        output += String(err);
        clearTimeout(timer);
        resolve({ code: null, signal: null, timedOut: false });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, timedOut: false });
      });
    });
    const ok = ready && result.code === 0 && (p.check.until === 'exit' || signalled);
    if (!ok) {
      const how = result.timedOut
        ? 'did not finish in time'
        : !ready
          ? `ended (status ${result.code ?? result.signal}) without printing ${p.check.ready}`
          : `ended with status ${result.code ?? result.signal}`;
      throw new ImageBuildError(
        'failed',
        p.image,
        `the bundle ${how} on \`node bundle.mjs ${p.check.args.join(' ')}\`: ${output.trim().slice(-1500)}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
