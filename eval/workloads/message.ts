/**
 * The workload's message on the wire: JSON `{"seq":n,"id":"<run>-<n>","ts":<epoch seconds>}`, the fields of
 * SHADOW's evaluation producer (`seq`, `id`, `ts`), persistent, `application/json`. The consumer library reads
 * `seq`; the AMQP message id repeats `id`.
 */
export interface WorkloadMessage {
  /** Sequence number, from 1, no gaps; a republished message keeps its number. */
  seq: number;
  /** `<producer run id>-<seq>`: the same for every publication of a sequence number. */
  id: string;
  /** When the producer first built the message, in seconds since the epoch (SHADOW's `time.time()`). */
  ts: number;
}

/**
 * @example
 * ```ts
 * encodeMessage({ seq: 1, id: 'r1-1', ts: 1767225600.123 }).toString(); // '{"seq":1,"id":"r1-1","ts":1767225600.123}'
 * ```
 */
export function encodeMessage(m: WorkloadMessage): Buffer {
  return Buffer.from(JSON.stringify({ seq: m.seq, id: m.id, ts: m.ts }));
}

/** Parses a body; throws an Error naming the first bad field. */
export function decodeMessage(body: Buffer): WorkloadMessage {
  const v = JSON.parse(body.toString('utf8')) as Partial<Record<keyof WorkloadMessage, unknown>> | null;
  if (typeof v?.seq !== 'number' || !Number.isSafeInteger(v.seq)) throw new Error('seq is not an integer');
  if (typeof v.id !== 'string') throw new Error('id is not a string');
  if (typeof v.ts !== 'number') throw new Error('ts is not a number');
  return { seq: v.seq, id: v.id, ts: v.ts };
}
