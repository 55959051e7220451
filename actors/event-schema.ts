/**
 * Runtime validation of every event read from a log, for any chart: the envelope (generic), then the event's
 * type and data against the chart's schemas. A corrupt or unknown event is a typed CorruptEventError naming the
 * stream (kind and id) and seq — never a crash deep in the fold, never a silent skip.
 *
 * Upcasting happens here, in two layers, before the data is checked:
 * 1. the envelope: a legacy envelope `{migrationId, ...}` (written before kinds existed) becomes
 *    `{kind: 'StatefulMigration', id: migrationId, ...}` (machines/envelope.ts `upcastEnvelope`);
 * 2. the chart: an event of an older `machineVersion` goes through the chart's upcasters, version by version.
 */
import { z } from 'zod';
import { CorruptEventError } from '../adapters/event-log/port.ts';
import type { ChartEvent, EventOf, FactOf } from '../machines/chart.ts';
import { type EventEnvelope, type StreamKey, upcastEnvelope } from '../machines/envelope.ts';
import type { AnyChart } from './chart.ts';

const envelopeSchema = z.object({
  kind: z.string().min(1),
  id: z.string().min(1),
  seq: z.number().int().positive(),
  type: z.string().min(1),
  at: z.iso.datetime({ offset: true }),
  machineVersion: z.number().int().positive(),
  data: z.unknown(),
});

/**
 * Validates one stored event of stream `(chart.kind, id)` and returns what the machine sees.
 *
 * @example
 * ```ts
 * const events = (await log.read({ kind: migrationChart.kind, id })).map((env, i) => parseEvent(migrationChart, env, id, i + 1));
 * ```
 */
export function parseEvent<C extends AnyChart>(chart: C, raw: unknown, id: string, expectedSeq?: number): EventOf<C> {
  const key: StreamKey = { kind: chart.kind, id };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CorruptEventError(key, expectedSeq, `event must be a JSON object, found ${kindOf(raw)}`);
  }
  const value = upcastEnvelope(raw);
  const found = (value as { seq?: unknown }).seq;
  if (typeof found !== 'number') {
    throw new CorruptEventError(key, expectedSeq, `seq must be a number, found ${kindOf(found)}`);
  }
  const env = envelopeSchema.safeParse(value);
  if (!env.success) {
    throw new CorruptEventError(key, found, `not a valid envelope: ${issuesText(env.error)}`, { cause: env.error });
  }
  let e = env.data as EventEnvelope;
  if (e.kind !== chart.kind || e.id !== id) throw new CorruptEventError(key, e.seq, `belongs to ${e.kind} ${e.id}`);
  if (expectedSeq !== undefined && e.seq !== expectedSeq) {
    const what = e.seq < expectedSeq ? 'seq goes back' : 'seq gap';
    throw new CorruptEventError(key, expectedSeq, `${what}: found seq ${e.seq} where seq ${expectedSeq} was expected`);
  }
  if (e.machineVersion > chart.version) {
    throw new CorruptEventError(
      key,
      e.seq,
      `written by machineVersion ${e.machineVersion}, this build knows up to ${chart.version}`,
      { fix: 'upgrade ms2m to a build that knows it' },
    );
  }
  for (let v = e.machineVersion; v < chart.version; v++) e = chart.upcasters[v]?.(e) ?? e;
  return { type: e.type, at: Date.parse(e.at), data: parseData(chart, key, e.seq, e.type, e.data) } as EventOf<C>;
}

/**
 * Validates a whole log of one stream (seq from 1, no gaps).
 *
 * @example
 * ```ts
 * const events = parseLog(migrationChart, await log.read({ kind: 'StatefulMigration', id }), id);
 * ```
 */
export function parseLog<C extends AnyChart>(chart: C, envelopes: readonly unknown[], id: string): EventOf<C>[] {
  return envelopes.map((env, i) => parseEvent(chart, env, id, i + 1));
}

/**
 * Validates a fact before it is appended (the host never writes an event it could not read back): its type is
 * one of the chart's and its data fits that type's schema. Returns the fact with its data as the schema parsed it.
 *
 * @example
 * ```ts
 * const checked = parseFact(chart, fact, { kind: chart.kind, id }, host.lastSeq + 1);
 * ```
 */
export function parseFact<C extends AnyChart>(
  chart: C,
  fact: { type: string; data: unknown },
  key: StreamKey,
  seq: number,
): FactOf<EventOf<C>> {
  return { type: fact.type, data: parseData(chart, key, seq, fact.type, fact.data) } as FactOf<EventOf<C>>;
}

function parseData(chart: AnyChart, key: StreamKey, seq: number, type: string, data: unknown): ChartEvent['data'] {
  if (!Object.hasOwn(chart.schemas, type)) {
    throw new CorruptEventError(key, seq, `unknown event type '${type}'`, {
      fix: 'upgrade ms2m if a newer build wrote it, otherwise restore the log from a backup',
    });
  }
  const parsed = (chart.schemas as Record<string, z.ZodType>)[type]!.safeParse(data);
  if (!parsed.success) {
    throw new CorruptEventError(key, seq, `${type} has invalid data: ${issuesText(parsed.error, 'data')}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** Zod issues on one line (`path: message; ...`), so an error stays one line in logs and on the command line. */
function issuesText(error: z.ZodError, root?: string): string {
  return error.issues
    .map((i) => {
      const path = [...(root ? [root] : []), ...i.path.map(String)].join('.');
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join('; ');
}

function kindOf(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
