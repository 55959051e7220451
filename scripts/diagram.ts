// `npm run diagram`: writes docs/migration.mmd (the full chart) and the phase overview in README.md, both
// generated from the machine. test/unit/diagram.test.ts fails when either is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readmeWithDiagram, toMermaid } from '../actors/diagram.ts';
import { migrationMachine } from '../machines/migration.ts';

const root = join(import.meta.dirname, '..');
writeFileSync(join(root, 'docs/migration.mmd'), toMermaid(migrationMachine));
const readme = join(root, 'README.md');
writeFileSync(
  readme,
  readmeWithDiagram(readFileSync(readme, 'utf8'), toMermaid(migrationMachine, { phasesOnly: true })),
);
console.log('wrote docs/migration.mmd and the diagram in README.md');
