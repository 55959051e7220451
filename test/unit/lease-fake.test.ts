import { describe, expect, it } from 'vitest';
import { virtualClock } from '../../adapters/clock/fake.ts';
import { FakeLeaseStore, fakeLease } from '../../adapters/lease/fake.ts';

describe('fake lease follows the lease rules', () => {
  const setup = () => {
    const clock = virtualClock(0);
    const store = new FakeLeaseStore();
    const a = fakeLease({ store, holder: 'a', clock, ttlMs: 10_000 });
    const b = fakeLease({ store, holder: 'b', clock, ttlMs: 10_000 });
    return { clock, a, b };
  };

  it('one holder at a time; renew keeps it', async () => {
    const { clock, a, b } = setup();
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    clock.advanceTo(9_000);
    expect(await a.renew()).toBe(true);
    clock.advanceTo(15_000);
    expect(await b.acquire()).toBe(false);
  });

  it('expires without a renew: another takes it and the old holder is told once', async () => {
    const { clock, a, b } = setup();
    const lost: string[] = [];
    await a.acquire();
    a.onLost(() => lost.push('a'));
    clock.advanceTo(10_001);
    expect(await b.acquire()).toBe(true);
    expect(lost).toEqual(['a']);
    expect(await a.renew()).toBe(false);
    expect(lost).toEqual(['a']);
  });

  it('release frees it at once', async () => {
    const { a, b } = setup();
    await a.acquire();
    await a.release();
    expect(await b.acquire()).toBe(true);
  });
});
