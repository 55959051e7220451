/**
 * The web app's client, bundled with esbuild (tsx, which runs ms2m, depends on it) into a cache directory keyed
 * by the content that goes into it: the client's sources and the versions of esbuild and the chart libraries.
 * The first `ms2m ui` builds it (about a second or two); later runs read it. Everything the page needs is in
 * that one file: no CDN, nothing fetched from outside.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import { writeFileAtomic } from '../../adapters/file-log/atomic-file.ts';

const CLIENT_DIR = join(import.meta.dirname, 'client');
const ENTRY = join(CLIENT_DIR, 'main.ts');
/** Bump when the build options change without a change to the inputs. */
const RECIPE = 1;

export interface ClientBundle {
  js: string;
  css: string;
  /** The content key (also the cache dir's name). */
  key: string;
  /** True when this call built it (false: read from the cache). */
  built: boolean;
}

/** `$MS2M_CACHE`, else `$XDG_CACHE_HOME/ms2m`, else `~/.cache/ms2m` (as the other installers use). */
export function cacheRoot(): string {
  return process.env.MS2M_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ms2m');
}

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else out.push(p);
  }
  return out.sort();
}

const require = createRequire(import.meta.url);
const versionOf = (pkg: string): string => {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'absent';
  }
};

/** The content key of the bundle: sha256 over the recipe, the library versions and every client source file. */
export async function bundleKey(): Promise<string> {
  const h = createHash('sha256').update(`recipe ${RECIPE}\n`);
  for (const pkg of ['esbuild', 'vega', 'vega-lite', 'vega-embed']) h.update(`${pkg}@${versionOf(pkg)}\n`);
  // the model's types are imported by the client (type-only), and style them too
  for (const file of [...(await sources(CLIENT_DIR)), join(import.meta.dirname, 'model.ts')]) {
    h.update(`${file.slice(import.meta.dirname.length)}\n`).update(await readFile(file));
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * The client bundle: from the cache when it holds this content's build, else built now and cached.
 *
 * @example
 * ```ts
 * const { js, css } = await clientBundle();
 * ```
 */
export async function clientBundle(opts: { cacheDir?: string } = {}): Promise<ClientBundle> {
  const key = await bundleKey();
  const dir = join(opts.cacheDir ?? join(cacheRoot(), 'ui'), key);
  const css = await readFile(join(CLIENT_DIR, 'style.css'), 'utf8');
  try {
    return { js: await readFile(join(dir, 'app.js'), 'utf8'), css, key, built: false };
  } catch {
    // not built yet
  }
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (err) {
    throw new Ms2mError(
      ErrorCode.INTERNAL,
      `ms2m ui: esbuild (which bundles the web app) is missing: run npm ci in the ms2m checkout`,
      { cause: err },
    );
  }
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const js = result.outputFiles[0]?.text;
  if (js === undefined) throw new Ms2mError(ErrorCode.INTERNAL, 'ms2m ui: esbuild produced no client bundle');
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'app.js'), js, { sync: false });
  return { js, css, key, built: true };
}
