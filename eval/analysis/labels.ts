import { InvalidInputError } from '../../adapters/errors.ts';

/**
 * Parses a label selector `k=v` (one condition) into `[k, v]`; throws InvalidInputError otherwise.
 *
 * @example
 * ```ts
 * parseLabel('ms2m.io/eval-rate=10'); // ['ms2m.io/eval-rate', '10']
 * ```
 */
export function parseLabel(text: string): [string, string] {
  const i = text.indexOf('=');
  if (i <= 0) throw new InvalidInputError(`Label selector '${text}'`, 'must be key=value, e.g. ms2m.io/eval-rate=10');
  return [text.slice(0, i), text.slice(i + 1)];
}
