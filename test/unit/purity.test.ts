import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// machines/ is the pure core: it may import xstate and its own files, nothing else (CONVENTIONS.md "Shape")
describe('machines/ purity', () => {
  const dir = join(import.meta.dirname, '../../machines');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it.each(files)('%s imports only xstate and ./ files', (file) => {
    const src = readFileSync(join(dir, file), 'utf8');
    const specifiers = [
      ...src.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1] ?? m[2]);
    for (const s of specifiers) {
      expect(s === 'xstate' || s?.startsWith('./'), `${file} imports '${s}'`).toBe(true);
    }
    expect(src).not.toMatch(/\bDate\.now\(|\bsetTimeout\(|\bprocess\./);
  });
});
