/**
 * Option value parsers for the ms2m commands (commander `argParser`s). Each one throws {@link UsageError} with a
 * message naming the flag and what it takes, so a wrong value is a one-line usage error (exit 2).
 */
import { UsageError } from './command-context.ts';

/**
 * A string value: not empty, and not the next option (commander would take `--log --id x` as log = `--id`).
 *
 * @example
 * ```ts
 * cmd.option('--log <dir>', 'embedded event log directory', text('--log'));
 * ```
 */
export function text(flag: string): (value: string) => string {
  return (value) => {
    if (value.startsWith('-') && value.length > 1) throw new UsageError(`${flag} needs a value`);
    if (value.trim() === '') throw new UsageError(`${flag} needs a non-empty value`);
    return value;
  };
}

/** One of `allowed` (for `-o`, the message says "an output format of ms2m <command>"). */
export function oneOf<T extends string>(flag: string, allowed: readonly T[], what: string): (value: string) => T {
  return (value) => {
    text(flag)(value);
    if (!(allowed as readonly string[]).includes(value))
      throw new UsageError(`${flag} ${value} is not ${what}; use ${orList(allowed)}`);
    return value as T;
  };
}

/** `-o <format>` of `command`. */
export function outputFormat<T extends string>(command: string, allowed: readonly T[]): (value: string) => T {
  return oneOf('-o', allowed, `an output format of ms2m ${command}`);
}

/** A whole number > 0 (or ≥ 0 with `min: 0`). */
export function wholeNumber(flag: string, min = 1): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min)
      throw new UsageError(`${flag} needs a ${min === 0 ? 'non-negative' : 'positive'} whole number, not '${value}'`);
    return n;
  };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration in ms: `90s`, `5m`, `1h30m`, `250ms`, or plain seconds (`120`).
 *
 * @example
 * ```ts
 * duration('--timeout')('1h30m'); // 5_400_000
 * ```
 */
export function duration(flag: string): (value: string) => number {
  return (value) => {
    const v = value.trim();
    if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
    const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join('') !== v)
      throw new UsageError(`${flag} needs a duration like 90s, 5m or 1h30m, not '${value}'`);
    const ms = parts.reduce((sum, p) => sum + Number(p[1]) * (UNITS[p[2] as string] as number), 0);
    if (ms <= 0) throw new UsageError(`${flag} needs a duration above zero, not '${value}'`);
    return ms;
  };
}

/** `a, b or c`. */
export function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}
