// `npm run crds`: writes the CRDs and admission policies in crds/ from their single source in actors/crd/.
// test/unit/crd.test.ts fails when a committed file is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedManifests } from '../actors/crd/manifests.ts';

const dir = join(import.meta.dirname, '..', 'crds');
for (const [file, text] of Object.entries(generatedManifests())) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote crds/${file}`);
}
