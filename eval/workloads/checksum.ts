/**
 * An order-independent checksum over the sequence numbers a consumer processed, so that two consumers (or a
 * consumer and the producer's count) can be compared without shipping every number:
 *
 * - `count`: how many numbers were added;
 * - `sum`: their sum (exact while below 2^53: sequence numbers up to ~9.4e7);
 * - `xor`: the XOR of their low 32 bits;
 * - `hash`: the sum modulo 2^64 of SplitMix64(n), as 16 hex digits: a set hash that any missing, extra or
 *   repeated number changes (unlike `sum`/`xor` alone, which a swap of two numbers can keep).
 *
 * Adding numbers in any order gives the same checksum; adding a number twice changes `count`, `sum` and `hash`
 * (so a double-processed message shows).
 *
 * @example
 * ```ts
 * const c = new SequenceChecksum();
 * for (const n of [3, 1, 2]) c.add(n);
 * c.toJSON(); // equals SequenceChecksum.ofRange(1, 3).toJSON()
 * ```
 */
export interface Checksum {
  count: number;
  sum: number;
  xor: number;
  hash: string;
}

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64's finalizer: a bijective 64-bit mix. */
export function splitmix64(n: number): bigint {
  let z = (BigInt(n) + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

export class SequenceChecksum {
  private count = 0;
  private sum = 0;
  private xor = 0;
  private hash = 0n;

  add(seq: number): void {
    this.count++;
    this.sum += seq;
    this.xor = (this.xor ^ seq) >>> 0;
    this.hash = (this.hash + splitmix64(seq)) & MASK64;
  }

  toJSON(): Checksum {
    return { count: this.count, sum: this.sum, xor: this.xor, hash: this.hash.toString(16).padStart(16, '0') };
  }

  /** The checksum of some numbers. */
  static of(seqs: Iterable<number>): SequenceChecksum {
    const c = new SequenceChecksum();
    for (const n of seqs) c.add(n);
    return c;
  }

  /** The checksum of every number from `from` to `to` (inclusive): what a consumer that lost nothing holds. */
  static ofRange(from: number, to: number): SequenceChecksum {
    const c = new SequenceChecksum();
    for (let n = from; n <= to; n++) c.add(n);
    return c;
  }
}
