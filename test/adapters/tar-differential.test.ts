// Differential test of the agent's tar check against two real extractors: GNU tar and Python's tarfile with the
// 'data' filter (Python >= 3.11.4). Seeded fast-check archives of adversarial entries (colliding names, `..`, link
// chains, unknown typeflags, pax and GNU extension headers, odd magics). The invariant:
//   whenever the check accepts an archive, both extractors succeed, write nothing outside the target folder, leave
//   no symlink that resolves outside it, and build exactly the tree the check modelled (same folders, same regular
//   files with the same bytes, same symlinks).
// Where the check rejects, the reason is tallied, together with what the extractors did with the same bytes
// (escaped, disagreed, failed, or agreed), and printed. Extractors run as `nobody` in a private sandbox.
// MS2M_TAR_DIFF_RUNS / MS2M_TAR_DIFF_SEED run a larger or another exploration.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsafeTarError } from '../../agent/errors.ts';
import { checkTarBuffer } from '../../agent/tar-safety.ts';
import { entryComponents } from '../../agent/tar-tree.ts';
import { paxRecords, type RawTarEntry, rawTar } from '../harness/agent.ts';

const SEED = Number(process.env.MS2M_TAR_DIFF_SEED ?? 20261202);
const RUNS = Number(process.env.MS2M_TAR_DIFF_RUNS ?? 200);
/** Folders between the sandbox root and the extraction target: room for `..` chains to land inside the sandbox. */
const DEPTH = 12;
const NOBODY = 65534;

// Python's tarfile with the data filter: the module of the `python3` on PATH (3.11.4+), run as nobody by that
// interpreter when nobody may execute it, else by /usr/bin/python3 importing that same tarfile.py (pure Python).
const python = spawnSync(
  'python3',
  [
    '-c',
    'import sys, tarfile; tarfile.data_filter; print(tarfile.__file__); print(sys.executable); print(sys.version.split()[0])',
  ],
  {
    encoding: 'utf8',
  },
);
const [tarfileModule, pythonExe, pythonVersion] = (python.stdout ?? '').trim().split('\n');
const gnuTar = spawnSync('tar', ['--version'], { encoding: 'utf8' });
const setpriv = spawnSync('setpriv', ['--version']);
const isRoot = process.getuid?.() === 0;
const ready = python.status === 0 && /GNU tar/.test(gnuTar.stdout ?? '') && setpriv.status === 0 && isRoot;

const WORKER = `
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tarfile
tarfile.data_filter
for line in sys.stdin:
    req = json.loads(line)
    try:
        with tarfile.open(req['archive'], 'r:') as tf:
            tf.extractall(req['dest'], filter='data')
        out = {'ok': True}
    except BaseException as e:
        out = {'ok': False, 'error': type(e).__name__ + ': ' + str(e)[:300]}
    print(json.dumps(out), flush=True)
`;

/** Runs as nobody: writes outside the sandbox (owned by root) fail instead of landing on the machine. */
const asNobody = (cmd: string[]) => [
  'setpriv',
  `--reuid=${NOBODY}`,
  `--regid=${NOBODY}`,
  '--clear-groups',
  '--',
  ...cmd,
];

/** An interpreter nobody can run (the user's may live under /root). */
function interpreterForNobody(): string {
  const [cmd, ...args] = asNobody([pythonExe as string, '-c', 'pass']);
  return spawnSync(cmd as string, args).status === 0 ? (pythonExe as string) : '/usr/bin/python3';
}

class PythonExtractor {
  private readonly child: ChildProcess;
  private readonly waiting: ((line: string) => void)[] = [];
  constructor(script: string) {
    const [cmd, ...args] = asNobody([interpreterForNobody(), script]);
    this.child = spawn(cmd as string, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (l) => this.waiting.shift()?.(l));
  }
  extract(archive: string, dest: string): Promise<{ ok: boolean; error?: string }> {
    return new Promise((resolve) => {
      this.waiting.push((l) => resolve(JSON.parse(l)));
      this.child.stdin?.write(`${JSON.stringify({ archive, dest })}\n`);
    });
  }
  stop(): void {
    this.child.stdin?.end();
  }
}

// ---- the generator ----

type Gen =
  | { k: 'file'; name: string; body: string }
  | { k: 'dir'; name: string }
  | { k: 'sym'; name: string; target: string }
  | { k: 'hard'; name: string; target: string }
  | { k: 'pax'; key: string; value: string }
  | { k: 'long'; flag: 'L' | 'K'; value: string }
  | { k: 'odd'; flag: string; name: string; body: string }
  | { k: 'magic'; name: string; magic: 'gnu' | 'v7'; prefix: string };

// mostly plain names from a tiny alphabet (so entries collide, nest and link to each other), some hostile parts
const component = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('a', 'b', 'c') },
  { weight: 2, arbitrary: fc.constant('..') },
  { weight: 1, arbitrary: fc.constantFrom('.', '') },
);
const relPath = fc.array(component, { minLength: 1, maxLength: 3 }).map((c) => c.join('/'));
const entryName = fc
  .tuple(
    fc.oneof(
      { weight: 14, arbitrary: fc.constant('') },
      { weight: 2, arbitrary: fc.constant('./') },
      { weight: 1, arbitrary: fc.constant('/') },
    ),
    relPath,
    fc.oneof({ weight: 14, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constant('/') }),
  )
  .map(([a, b, c]) => `${a}${b}${c}`)
  .filter((n) => n.length > 0);
const dirName = entryName.map((n) => (n.endsWith('/') ? n : `${n}/`));
/** `@ABS@` becomes an absolute path to a watched folder of the sandbox (never a real system path). */
const linkTarget = fc.oneof(
  { weight: 6, arbitrary: relPath },
  { weight: 1, arbitrary: relPath.map((p) => `@ABS@/${p}`) },
  { weight: 1, arbitrary: fc.constantFrom('.', '..', '../..', '../../..') },
);
const hostile: fc.Arbitrary<Gen> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ k: fc.constant('file' as const), name: entryName, body: fc.constantFrom('', 'x', 'yy') }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('dir' as const), name: dirName }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('sym' as const), name: entryName, target: linkTarget }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('hard' as const), name: entryName, target: entryName }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('pax' as const),
      key: fc.constantFrom('path', 'linkpath', 'GNU.sparse.name', 'size', 'uid'),
      value: fc.oneof(entryName, fc.constantFrom('0', '1', '1x')),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('long' as const),
      flag: fc.constantFrom('L' as const, 'K' as const),
      value: entryName,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('odd' as const),
      // M (multi-volume) is left out: GNU tar would prompt for the next volume
      flag: fc.constantFrom('X', 'g', 'S', 'V', 'N', 'D', '7', '6', '8', 'A', 'x'),
      name: entryName,
      body: fc.oneof(
        fc.constant(''),
        entryName.map((p) => paxRecords({ path: p }).toString('latin1')),
        fc.constant('junk\n'),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('magic' as const),
      name: entryName,
      magic: fc.constantFrom('gnu' as const, 'v7' as const),
      prefix: fc.constantFrom('', 'p', 'a'),
    }),
  },
);

// plain entries, as tar writes them: names of a, b, c (colliding and nesting), links with leading `..` only
const plainName = fc
  .tuple(
    fc.constantFrom('', '', '', './'),
    fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 3 }),
  )
  .map(([p, c]) => `${p}${c.join('/')}`);
const plainTarget = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 3 }).map((c) => c.join('/')),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 3 }), fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 2 }))
      .map(([up, c]) => [...Array(up).fill('..'), ...c].join('/')),
  },
  { weight: 1, arbitrary: fc.constant('.') },
);
const plain: fc.Arbitrary<Gen> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ k: fc.constant('file' as const), name: plainName, body: fc.constantFrom('', 'x', 'yy') }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('dir' as const), name: plainName.map((n) => `${n}/`) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('sym' as const), name: plainName, target: plainTarget }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('hard' as const), name: plainName, target: plainName }) },
);
/** Plain entries, half of the archives with one hostile entry somewhere. */
const archiveEntries: fc.Arbitrary<Gen[]> = fc
  .tuple(fc.array(plain, { minLength: 1, maxLength: 7 }), fc.option(hostile, { freq: 2 }), fc.nat())
  .map(([entries, bad, at]) => {
    if (!bad) return entries;
    const i = at % (entries.length + 1);
    return [...entries.slice(0, i), bad, ...entries.slice(i)];
  });

function toRaw(g: Gen, abs: string): RawTarEntry {
  const t = (s: string) => s.replace('@ABS@', abs);
  switch (g.k) {
    case 'file':
      return { name: g.name, body: g.body };
    case 'dir':
      return { name: g.name, type: '5' };
    case 'sym':
      return { name: g.name, type: '2', linkname: t(g.target) };
    case 'hard':
      return { name: g.name, type: '1', linkname: g.target };
    case 'pax':
      return { name: 'PaxHeader', type: 'x', body: paxRecords({ [g.key]: g.value }) };
    case 'long':
      return { name: '././@LongLink', type: g.flag, magic: 'gnu', body: `${g.value}\0` };
    case 'odd':
      return { name: g.name, type: g.flag, body: g.body };
    case 'magic':
      return { name: g.name, magic: g.magic, prefix: g.prefix, body: 'm' };
  }
}

// ---- what an extraction produced ----

type Tree = Map<string, string>; // relative path -> 'd' | 'f:<sha256 of bytes>' | 'l:<target>'

function snapshot(dir: string): Tree {
  const out: Tree = new Map();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = lstatSync(p);
      const rel = relative(dir, p);
      if (st.isSymbolicLink()) out.set(rel, `l:${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, 'd');
        walk(p);
      } else if (st.isFile())
        out.set(rel, `f:${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 12)}`);
      else out.set(rel, 'special');
    }
  };
  walk(dir);
  return out;
}

/** Where a path on disk really leads (following symlinks like the kernel, missing parts taken as written). */
function resolveOnDisk(path: string): string {
  const parts = path.split('/').filter(Boolean);
  const done: string[] = [];
  let follows = 0;
  while (parts.length > 0) {
    const c = parts.shift() as string;
    if (c === '.') continue;
    if (c === '..') {
      done.pop();
      continue;
    }
    const p = `/${[...done, c].join('/')}`;
    let st: ReturnType<typeof lstatSync> | undefined;
    try {
      st = lstatSync(p);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink() && follows++ < 40) {
      const target = readlinkSync(p);
      if (target.startsWith('/')) done.length = 0;
      parts.unshift(...target.split('/'));
    } else done.push(c);
  }
  return `/${done.join('/')}`;
}

/** Problems an extraction into `out` left: anything outside it (in the sandbox or `absDir`), or a symlink leading out. */
function escapes(sandbox: string, out: string, absDir: string): string[] {
  const problems: string[] = [];
  const chain = new Set<string>();
  for (let d = out; d !== sandbox; d = join(d, '..')) chain.add(d);
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (p === out) continue;
      if (chain.has(p)) walk(p);
      else problems.push(`wrote ${relative(sandbox, p)} outside the target`);
    }
  };
  walk(sandbox);
  for (const n of readdirSync(absDir)) problems.push(`wrote ${n} through an absolute link`);
  for (const [rel, kind] of snapshot(out)) {
    if (!kind.startsWith('l:')) continue;
    const real = resolveOnDisk(join(out, rel));
    if (real !== out && !real.startsWith(`${out}/`)) problems.push(`symlink ${rel} leads to ${real}`);
  }
  return problems;
}

/** The tree the check modelled from the entries it accepted. */
function modelled(entries: ReturnType<typeof checkTarBuffer>): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of entries) {
    const parts = entryComponents(e.name);
    for (let i = 1; i < parts.length; i++)
      if (!m.has(parts.slice(0, i).join('/'))) m.set(parts.slice(0, i).join('/'), 'd');
    if (parts.length === 0) continue;
    const p = parts.join('/');
    m.set(p, e.type === 'directory' ? 'd' : e.type === 'symlink' ? `l:${e.linkname}` : 'f');
  }
  return m;
}
const kinds = (t: Tree) => new Map([...t].map(([p, k]) => [p, k.startsWith('f:') ? 'f' : k]));

interface Outcome {
  gnu: { status: number | null; stderr: string; tree: Tree; escapes: string[] };
  py: { ok: boolean; error?: string; tree: Tree; escapes: string[] };
}

describe.skipIf(!ready)(
  'tar check vs GNU tar and Python tarfile (data filter; skipped only without python3, GNU tar, setpriv or root, all present on CI machines)',
  () => {
    let root: string;
    let py: PythonExtractor;
    let n = 0;
    const rejected = new Map<string, { count: number; escaped: number; disagreed: number; bothFailed: number }>();
    let accepted = 0;

    beforeAll(() => {
      root = mkdtempSync(join(tmpdir(), 'ms2m-tardiff-'));
      chmodSync(root, 0o755);
      const script = join(root, 'extract.py');
      writeFileSync(script, WORKER);
      writeFileSync(join(root, 'tarfile.py'), readFileSync(tarfileModule as string));
      chmodSync(script, 0o644);
      chmodSync(join(root, 'tarfile.py'), 0o644);
      py = new PythonExtractor(script);
    });
    afterAll(() => {
      py?.stop();
      if (root) rmSync(root, { recursive: true, force: true });
      const rows = [...rejected.entries()].sort((a, b) => b[1].count - a[1].count);
      console.info(
        `tar differential (${(gnuTar.stdout ?? '').split('\n')[0]}, Python ${pythonVersion} tarfile): seed ${SEED}, ` +
          `${n} archives, ${accepted} accepted; rejected by reason ` +
          '(count / extractors escaped / GNU tar and Python disagreed / both failed):\n' +
          rows.map(([r, c]) => `  ${c.count} / ${c.escaped} / ${c.disagreed} / ${c.bothFailed}  ${r}`).join('\n'),
      );
    });

    /** A fresh sandbox per extractor, owned by nobody; the target is DEPTH folders down. */
    function sandbox(tag: string): { top: string; out: string } {
      const top = join(root, `${n}-${tag}`);
      const out = join(top, ...Array.from({ length: DEPTH }, (_, i) => `s${i}`), 'out');
      mkdirSync(out, { recursive: true });
      for (let d = out; d !== root; d = join(d, '..')) chownSync(d, NOBODY, NOBODY);
      return { top, out };
    }

    /** Extracts with GNU tar, then Python; `abs` (where absolute link targets point) is checked and emptied between. */
    async function extractBoth(archive: string, abs: string): Promise<Outcome> {
      const g = sandbox('gnu');
      const [cmd, ...args] = asNobody(['tar', '-xf', archive, '-C', g.out]);
      const r = spawnSync(cmd as string, args, {
        encoding: 'utf8',
        timeout: 15_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const gnu = {
        status: r.status,
        stderr: r.stderr.trim(),
        tree: snapshot(g.out),
        escapes: escapes(g.top, g.out, abs),
      };
      for (const f of readdirSync(abs)) rmSync(join(abs, f), { recursive: true, force: true });
      const p = sandbox('py');
      const pr = await py.extract(archive, p.out);
      return { gnu, py: { ...pr, tree: snapshot(p.out), escapes: escapes(p.top, p.out, abs) } };
    }

    it('whenever the check accepts, GNU tar and Python extract the same tree, the modelled one, all inside the target', async () => {
      await fc.assert(
        fc.asyncProperty(archiveEntries, async (gens) => {
          n++;
          // absolute link targets point at a watched folder owned by nobody, never at a real system path
          const abs = join(root, `${n}-abs`);
          mkdirSync(abs);
          chownSync(abs, NOBODY, NOBODY);
          const buf = rawTar(gens.map((g) => toRaw(g, abs)));
          const archive = join(root, `${n}.tar`);
          writeFileSync(archive, buf);
          chmodSync(archive, 0o644);
          let entries: ReturnType<typeof checkTarBuffer> | undefined;
          let reason = '';
          try {
            entries = checkTarBuffer(buf);
          } catch (err) {
            if (!(err instanceof UnsafeTarError)) throw err;
            reason = err.message
              .replace(/^Checkpoint archive rejected: entry "[^"]*" /, '')
              .replace(/"([^"]*)"/g, (q, x: string) => (['.', '..', '/'].includes(x) ? q : '"…"')) // names vary
              .replace(/\d+/g, 'N');
          }
          const o = await extractBoth(archive, abs);
          try {
            if (!entries) {
              const c = rejected.get(reason) ?? { count: 0, escaped: 0, disagreed: 0, bothFailed: 0 };
              c.count++;
              if (o.gnu.escapes.length + o.py.escapes.length > 0) c.escaped++;
              if (JSON.stringify([...kinds(o.gnu.tree)].sort()) !== JSON.stringify([...kinds(o.py.tree)].sort()))
                c.disagreed++;
              if (o.gnu.status !== 0 && !o.py.ok) c.bothFailed++;
              rejected.set(reason, c);
              return;
            }
            accepted++;
            expect({ status: o.gnu.status, stderr: o.gnu.stderr }).toEqual({ status: 0, stderr: '' });
            expect(o.py).toMatchObject({ ok: true });
            expect(o.gnu.escapes).toEqual([]);
            expect(o.py.escapes).toEqual([]);
            const sorted = (t: Map<string, string>) => [...t].sort((a, b) => a[0].localeCompare(b[0]));
            expect(sorted(o.py.tree)).toEqual(sorted(o.gnu.tree));
            expect(sorted(kinds(o.gnu.tree))).toEqual(sorted(modelled(entries)));
          } finally {
            rmSync(join(root, `${n}-gnu`), { recursive: true, force: true });
            rmSync(join(root, `${n}-py`), { recursive: true, force: true });
            rmSync(abs, { recursive: true, force: true });
            rmSync(archive, { force: true });
          }
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: false },
      );
      // not vacuous: a fair share is accepted, and the rejections cover the classes the generator aims at
      expect(accepted).toBeGreaterThan(RUNS * 0.1);
      const reasons = [...rejected.keys()].join('\n');
      for (const r of [
        /resolves outside/,
        /duplicate|replaces/,
        /hardlink/,
        /"\.\." component in its name/,
        /absolute/,
      ])
        expect(reasons).toMatch(r);
      expect(existsSync(root)).toBe(true);
    }, 600_000);
  },
);
