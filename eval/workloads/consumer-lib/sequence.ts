/**
 * Sequence numbers: how a data message carries one, and the set of those already processed (the dedup state).
 */
import type { MessageProperties } from 'amqplib';

/**
 * The sequence number of a data message: a JSON object with an integer `seq` (the workload producer's and
 * SHADOW's format: `{"seq":42,"id":"…","ts":…}`) or a bare integer body (`42`). Throws an Error otherwise.
 *
 * @example
 * ```ts
 * sequenceOfMessage(Buffer.from('{"seq":42,"id":"a","ts":1}')); // 42
 * sequenceOfMessage(Buffer.from('7')); // 7
 * ```
 */
export function sequenceOfMessage(content: Buffer, _properties?: MessageProperties): number {
  let value: unknown;
  try {
    value = JSON.parse(content.toString('utf8'));
  } catch (err) {
    throw new Error('the body is not JSON', { cause: err });
  }
  const seq = typeof value === 'number' ? value : (value as { seq?: unknown } | null)?.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    throw new Error(`no non-negative integer sequence number (got ${JSON.stringify(seq)})`);
  return seq;
}

/** A reader of sequence numbers, for messages in another format. */
export type SequenceReader = (content: Buffer, properties: MessageProperties) => number;

/**
 * The sequence numbers processed so far, compact for a producer that counts up: every number from `first` to a
 * watermark is one integer, only those above a gap are kept one by one. Memory stays small however long the
 * consumer runs, as long as gaps close (they do: a message is redelivered until it is processed).
 *
 * @example
 * ```ts
 * const done = new SequenceSet();
 * done.add(1); done.add(3);
 * done.has(3); // true
 * done.add(2); // closes the gap: watermark 3, nothing kept one by one
 * done.toJSON(); // { first: 1, contiguousTo: 3, sparse: [], size: 3 }
 * ```
 */
export class SequenceSet {
  private watermark: number;
  private readonly sparse = new Set<number>();
  private count = 0;

  /** @param first the first number the producer sends (1 for the workload producer, 0 for SHADOW's). */
  constructor(readonly first = 1) {
    this.watermark = first - 1;
  }

  has(seq: number): boolean {
    return (seq >= this.first && seq <= this.watermark) || this.sparse.has(seq);
  }

  /** Adds `seq`; false when it was there already. */
  add(seq: number): boolean {
    if (this.has(seq)) return false;
    this.count++;
    if (seq === this.watermark + 1) {
      this.watermark = seq;
      while (this.sparse.delete(this.watermark + 1)) this.watermark++;
    } else {
      this.sparse.add(seq);
    }
    return true;
  }

  /** How many numbers are in the set. */
  get size(): number {
    return this.count;
  }

  /** Every number from `first` to this one is in the set (`first - 1` when `first` is not). */
  get contiguousTo(): number {
    return this.watermark;
  }

  /** The numbers in ascending order. */
  *values(): IterableIterator<number> {
    const sparse = [...this.sparse].sort((a, b) => a - b);
    let i = 0;
    while (i < sparse.length && (sparse[i] as number) < this.first) yield sparse[i++] as number;
    for (let n = this.first; n <= this.watermark; n++) yield n;
    for (; i < sparse.length; i++) yield sparse[i] as number;
  }

  /** An independent copy (what a checkpoint holds). */
  clone(): SequenceSet {
    const copy = new SequenceSet(this.first);
    copy.watermark = this.watermark;
    for (const n of this.sparse) copy.sparse.add(n);
    copy.count = this.count;
    return copy;
  }

  toJSON(): { first: number; contiguousTo: number; sparse: number[]; size: number } {
    return {
      first: this.first,
      contiguousTo: this.watermark,
      sparse: [...this.sparse].sort((a, b) => a - b),
      size: this.count,
    };
  }
}
