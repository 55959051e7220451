import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readmeWithDiagram, toMermaid } from '../../actors/diagram.ts';
import { migrationMachine } from '../../machines/migration.ts';

const root = join(import.meta.dirname, '../..');

describe('diagrams generated from the machine are current (run `npm run diagram` after changing the chart)', () => {
  it('docs/migration.mmd', () => {
    expect(readFileSync(join(root, 'docs/migration.mmd'), 'utf8')).toBe(toMermaid(migrationMachine));
  });

  it('the overview in README.md', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toBe(readmeWithDiagram(readme, toMermaid(migrationMachine, { phasesOnly: true })));
  });

  it('draws every phase and the compensation path', () => {
    const mmd = toMermaid(migrationMachine, { phasesOnly: true });
    for (const p of [
      'Pending',
      'Checkpointing',
      'Transferring',
      'Restoring',
      'Replaying',
      'Finalizing',
      'Completed',
      'Failed',
    ]) {
      expect(mmd).toContain(`state "${p}"`);
    }
    expect(mmd).toMatch(/compensate --> migration_Failed : CompensationCompleted/);
  });
});
