// The CLI's option parsers and progress text: what a user types becomes the value or one usage error naming the
// flag; what the status says becomes the progress line.
import { describe, expect, it } from 'vitest';
import { duration, oneOf, orList, text, wholeNumber } from '../../bin/cli-options.ts';
import { UsageError } from '../../bin/command-context.ts';
import { progressText } from '../../bin/migration-follow.ts';

const usage = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('no usage error');
};

describe('option parsers', () => {
  it('duration: units, combinations and plain seconds; anything else names the flag', () => {
    const d = duration('--timeout');
    expect([d('250ms'), d('90s'), d('5m'), d('1h30m'), d('120'), d('1.5s'), d('2h3m4s')]).toEqual([
      250, 90_000, 300_000, 5_400_000, 120_000, 1500, 7_384_000,
    ]);
    for (const bad of ['soon', '5 m', '1d', '-5s', 'm', '5s5', ''])
      expect(usage(() => d(bad))).toMatch(/^--timeout needs a duration/);
    expect(usage(() => d('0s'))).toMatch(/^--timeout needs a duration above zero, not '0s'/);
  });

  it('wholeNumber: digits only, at least the minimum', () => {
    expect(wholeNumber('--rate')('7')).toBe(7);
    expect(wholeNumber('--cutoff', 0)('0')).toBe(0);
    for (const bad of ['0', '-1', '1.5', '1e3', 'x', ''])
      expect(usage(() => wholeNumber('--rate')(bad))).toMatch(/^--rate needs a positive whole number, not /);
    expect(usage(() => wholeNumber('--cutoff', 0)('-1'))).toMatch(/^--cutoff needs a non-negative whole number/);
  });

  it('text refuses an empty value and the next option; oneOf lists the choices', () => {
    expect(text('--log')('dir')).toBe('dir');
    expect(text('--name')('-')).toBe('-');
    expect(usage(() => text('--log')('--id'))).toBe("--log needs a value (run 'ms2m help' for usage)");
    expect(usage(() => text('--log')(' '))).toBe("--log needs a non-empty value (run 'ms2m help' for usage)");
    const mode = oneOf('--transfer', ['Direct', 'Registry'] as const, 'a transfer mode');
    expect(mode('Direct')).toBe('Direct');
    expect(usage(() => mode('direct'))).toMatch(/^--transfer direct is not a transfer mode; use Direct or Registry/);
    expect(orList(['a'])).toBe('a');
    expect(orList(['a', 'b', 'c'])).toBe('a, b or c');
  });
});

describe('progressText', () => {
  const MiB = 2 ** 20;
  it('bytes/total, then rate and ETA while bytes remain, then the replay depth and count', () => {
    expect(progressText(undefined)).toBe('');
    expect(progressText({ progress: { bytesTransferred: 0, bytesTotal: 0, replayed: 0 } })).toBe('');
    const moving = { progress: { bytesTransferred: 30 * MiB, bytesTotal: 100 * MiB, replayed: 0 } };
    expect(progressText(moving)).toBe('30.0 MiB/100.0 MiB');
    expect(progressText(moving, 10 * MiB)).toBe('30.0 MiB/100.0 MiB  10.0 MiB/s  ETA 7s');
    // the operator's own ETA wins over the client's estimate
    expect(progressText({ progress: { ...moving.progress, etaSeconds: 3.2 } }, 10 * MiB)).toBe(
      '30.0 MiB/100.0 MiB  10.0 MiB/s  ETA 4s',
    );
    expect(
      progressText(
        { progress: { bytesTransferred: 100 * MiB, bytesTotal: 100 * MiB, replayDepth: 12, replayed: 30 } },
        5,
      ),
    ).toBe('100.0 MiB/100.0 MiB  replay depth 12  replayed 30');
  });
});
