/**
 * Where SHADOW's published evaluation CSVs ship inside ms2m (README.md beside this file): the default of
 * `--shadow`-style options in examples, the benchmarks and the tests.
 *
 * @example
 * ```ts
 * const shadow = await readShadowCsv(SHADOW_EVAL_DIR);
 * ```
 */
import { fileURLToPath } from 'node:url';

export const SHADOW_EVAL_DIR: string = fileURLToPath(new URL('./shadow-eval/', import.meta.url));
