// `npm run bench -- <name>` runs bench/<name>.bench.ts. Each benchmark prints one JSON line last:
// {"name": ..., <keys named by its issue>}. `npm run bench` alone lists them.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const names = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();
const wanted = process.argv.slice(2);
if (wanted.length === 0) {
  console.log(`usage: npm run bench -- <name> [<name> ...]\nbenchmarks: ${names.join(', ')}`);
  process.exit(0);
}
for (const name of wanted) {
  if (!names.includes(name)) {
    console.error(`unknown benchmark '${name}'; known: ${names.join(', ')}`);
    process.exit(2);
  }
}
for (const name of wanted) {
  const mod = (await import(pathToFileURL(join(here, `${name}.bench.ts`)).href)) as {
    run: () => Promise<Record<string, unknown>>;
  };
  const result = await mod.run();
  console.log(JSON.stringify({ name, ...result }));
}
process.exit(0);
