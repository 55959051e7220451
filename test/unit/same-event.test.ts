import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEvent, canonicalJson, isSameEvent } from '../../adapters/event-log/same-event.ts';
import type { NewEvent } from '../../machines/envelope.ts';

const SEED = 7_2026; // fixed: a failure reproduces as is

/** The same JSON value with the keys of every object in a different (shuffled) order. */
function reorder(value: unknown, rnd: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => reorder(v, rnd));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value).map(([k, v]) => [k, reorder(v, rnd)] as const);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [entries[i], entries[j]] = [entries[j] as (typeof entries)[number], entries[i] as (typeof entries)[number]];
  }
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of entries) out[k] = v;
  return out;
}

/** A small seeded PRNG (mulberry32) for the shuffles. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const eventArb = fc.record({
  type: fc.constantFrom('A', 'CheckpointCreated', 'StepFailed'),
  at: fc.integer({ min: 0, max: 4_102_444_800_000 }).map((ms) => new Date(ms).toISOString()),
  machineVersion: fc.integer({ min: 1, max: 3 }),
  data: fc.jsonValue(),
});

describe('one canonical "same event"', () => {
  it('an event equals itself with the keys of every object reordered (property)', () => {
    fc.assert(
      fc.property(eventArb, fc.integer(), (ev, salt) => {
        const shuffled = { ...(reorder(ev, mulberry32(salt)) as NewEvent) };
        expect(canonicalEvent(shuffled)).toBe(canonicalEvent(ev));
        expect(isSameEvent(shuffled, ev)).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('two events are the same exactly when their canonical forms are equal (property)', () => {
    fc.assert(
      fc.property(eventArb, eventArb, (a, b) => {
        expect(isSameEvent(a, b)).toBe(canonicalEvent(a) === canonicalEvent(b));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('ignores the envelope fields the log stamps and JSON-invisible undefined members', () => {
    const ev: NewEvent = { type: 'A', at: '2026-01-01T00:00:00.000Z', machineVersion: 1, data: { a: 1 } };
    const stored = { migrationId: 'ns/x', seq: 4, ...ev, data: { a: 1, b: undefined } };
    expect(isSameEvent(stored, ev)).toBe(true);
    expect(canonicalEvent(ev)).toBe('{"at":"2026-01-01T00:00:00.000Z","data":{"a":1},"machineVersion":1,"type":"A"}');
  });

  it('keeps an own "__proto__" member (JSON.parse makes those) instead of losing it', () => {
    const parsed = JSON.parse('{"__proto__":{"x":1},"a":2}');
    expect(canonicalJson(parsed)).toBe('{"__proto__":{"x":1},"a":2}');
    expect(canonicalJson(JSON.parse('{"a":2}'))).not.toBe(canonicalJson(parsed));
  });
});
