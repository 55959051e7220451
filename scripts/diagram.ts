// `npm run diagram`: writes docs/migration.mmd (the full chart), the phase overview in README.md and
// docs/migration-phases.svg (Graphviz), all generated from the machine. test/unit/diagram.test.ts and
// test/ui/diagram.test.ts fail when one is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readmeWithDiagram, toMermaid } from '../actors/diagram.ts';
import { toSvg } from '../actors/diagram-dot.ts';
import { migrationMachine } from '../machines/migration.ts';
import { volumeResizeMachine } from '../machines/volume-resize.ts';

const root = join(import.meta.dirname, '..');
writeFileSync(join(root, 'docs/migration.mmd'), toMermaid(migrationMachine));
writeFileSync(join(root, 'docs/volume-resize.mmd'), toMermaid(volumeResizeMachine));
writeFileSync(join(root, 'docs/migration-phases.svg'), await toSvg(migrationMachine, { phasesOnly: true }));
const readme = join(root, 'README.md');
writeFileSync(
  readme,
  readmeWithDiagram(readFileSync(readme, 'utf8'), toMermaid(migrationMachine, { phasesOnly: true })),
);
console.log('wrote docs/migration.mmd, docs/volume-resize.mmd and the diagram in README.md');
