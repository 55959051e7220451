// State files are replaced atomically (issue 7: the demo wrote its state in place, and a kill between truncate
// and write left an empty file that made the resume fail).
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAtomicTempOf, writeFileAtomic, writeFileAtomicSync } from '../../adapters/file-log/atomic-file.ts';

const PAD = 4 * 1024 * 1024;
const repoRoot = join(import.meta.dirname, '..', '..');
const writerScript = join(import.meta.dirname, 'fixtures', 'atomic-writer.ts');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms2m-atomic-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A seeded PRNG (mulberry32), so a failing round reproduces. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('atomic state files', () => {
  it('kill -9 at any point while rewriting: the file always holds one complete version, at least the last acknowledged', async () => {
    const file = join(dir, 'world.json');
    const random = mulberry32(2026);
    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', writerScript, file, String(PAD)], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const killAfter = 1 + Math.floor(random() * 20);
      let acked = 0;
      let stopping = false;
      let buffered = '';
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          for (const line of lines) acked = Math.max(acked, Number(line.replace('wrote ', '')));
          if (acked >= killAfter && !stopping) {
            stopping = true;
            // a few ms later: mostly in the middle of writing the next version (4 MiB takes a while)
            setTimeout(() => {
              child.kill('SIGKILL');
              resolve();
            }, random() * 15);
          }
        });
      });
      await new Promise((resolve) => child.on('close', resolve));
      const text = await readFile(file, 'utf8');
      const state = JSON.parse(text) as { version: number; pad: string };
      expect(state.version).toBeGreaterThanOrEqual(acked);
      expect(state.pad).toHaveLength(PAD);
    }
    // a kill can leave a temp file; it is recognisable, so its owner can clean it up
    for (const name of await readdir(dir))
      expect(name === 'world.json' || isAtomicTempOf(name, 'world.json')).toBe(true);
  });

  it('replaces a file in one step and leaves no temp file; a failed write leaves the old content and no temp file', async () => {
    const file = join(dir, 'state.json');
    await writeFile(file, 'old');
    await writeFileAtomic(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    writeFileAtomicSync(file, 'newer');
    expect(await readFile(file, 'utf8')).toBe('newer');
    await expect(writeFileAtomic(join(dir, 'no-such-dir', 'x.json'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    // renaming over a directory fails after the temp file was written: it must not stay behind
    await expect(writeFileAtomic(dir, 'x')).rejects.toBeDefined();
    expect(() => writeFileAtomicSync(dir, 'x')).toThrow();
    const leftovers = (await readdir(join(dir, '..'))).filter((n) => n.endsWith('.tmp') && n.includes('ms2m-atomic'));
    expect(leftovers).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe('newer');
  });
});
