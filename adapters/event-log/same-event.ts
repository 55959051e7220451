/**
 * The one definition of "the same event", used by every event log to recognise a retried append whose ack was
 * lost: the stored event at the caller's seq is the caller's event when `{type, at, machineVersion, data}` are
 * equal by value (object keys in any order). The stream key (`kind`, `id`) and `seq` are not compared: the log
 * stamps them, and a retry carries the same key and `expectSeq` by construction (a retry under another kind is
 * another stream, never compared). So the comparison is the same for an event stored in the legacy format
 * (`migrationId`, no `kind`): its caller-supplied part is what is compared.
 */
import type { NewEvent } from '../../machines/envelope.ts';

/**
 * Canonical JSON of the caller-supplied part of an event: `{at, data, machineVersion, type}` with the object keys
 * at every depth sorted; array order is kept, `undefined` members are dropped (as JSON drops them).
 *
 * @example
 * ```ts
 * canonicalEvent({ type: 'A', at: '2026-01-01T00:00:00.000Z', machineVersion: 1, data: { b: 1, a: 2 } });
 * // '{"at":"2026-01-01T00:00:00.000Z","data":{"a":2,"b":1},"machineVersion":1,"type":"A"}'
 * ```
 */
export function canonicalEvent(ev: NewEvent): string {
  return canonicalJson({ type: ev.type, at: ev.at, machineVersion: ev.machineVersion, data: ev.data });
}

/**
 * True when `a` and `b` are the same event by {@link canonicalEvent} (envelopes are accepted, current or
 * legacy: their key and `seq` are ignored).
 *
 * @example
 * ```ts
 * const stored = (await log.read(key))[expectSeq];
 * if (stored && isSameEvent(stored, event)) return stored; // a retry after a lost ack
 * ```
 */
export function isSameEvent(a: NewEvent, b: NewEvent): boolean {
  return (
    a.type === b.type &&
    a.at === b.at &&
    a.machineVersion === b.machineVersion &&
    canonicalEvent(a) === canonicalEvent(b)
  );
}

/**
 * JSON with the keys of every object sorted (code-unit order), so two values equal by content serialise equally.
 *
 * @example
 * ```ts
 * canonicalJson({ b: [2, { d: 1, c: 0 }], a: 1 }); // '{"a":1,"b":[2,{"c":0,"d":1}]}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    // no prototype: an own "__proto__" key (JSON.parse makes those) stays an ordinary member
    const sorted: Record<string, unknown> = Object.create(null);
    for (const k of Object.keys(v as object).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
