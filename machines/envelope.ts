/**
 * The event envelope every log stores: `{kind, id, seq, type, at, machineVersion, data}`. A log holds streams of
 * any chart: `kind` names the chart (`StatefulMigration`, `VolumeResize`), `id` the instance (for a migration:
 * `namespace/name/uid`), and `(kind, id)` is the stream's key. `seq` is per stream, starts at 1 and has no gaps;
 * `at` is an ISO-8601 timestamp with milliseconds; `machineVersion` is the version of the chart that wrote it.
 * The machine itself sees `{type, at: epoch ms, data}` (see chart.ts).
 *
 * Logs written before charts had kinds hold {@link LegacyEnvelope}s, `{migrationId, seq, type, at,
 * machineVersion, data}`: they are migrations, and {@link upcastEnvelope} reads them as kind
 * {@link LEGACY_KIND} with `id = migrationId`. Nothing rewrites them.
 */
export interface EventEnvelope<T extends string = string, D = unknown> {
  kind: string;
  id: string;
  seq: number;
  type: T;
  at: string;
  machineVersion: number;
  data: D;
}

/** What identifies one stream of a log: the chart's kind and the instance id. */
export interface StreamKey {
  kind: string;
  id: string;
}

/** What a writer hands to `EventLog.append`: the envelope without the fields the log stamps (key and seq). */
export type NewEvent<T extends string = string, D = unknown> = Omit<EventEnvelope<T, D>, 'kind' | 'id' | 'seq'>;

/**
 * The envelope a log stores for `event` appended to stream `key` at `seq`: only the envelope's own fields, in
 * their order (extra properties of the event object are dropped).
 *
 * @example
 * ```ts
 * const stored = storedEnvelope(key, expectSeq + 1, event);
 * ```
 */
export function storedEnvelope(key: StreamKey, seq: number, event: NewEvent): EventEnvelope {
  return {
    kind: key.kind,
    id: key.id,
    seq,
    type: event.type,
    at: event.at,
    machineVersion: event.machineVersion,
    data: event.data,
  };
}

/** An envelope as written before kinds existed (envelope format 1); it is always a StatefulMigration. */
export interface LegacyEnvelope<T extends string = string, D = unknown> {
  migrationId: string;
  seq: number;
  type: T;
  at: string;
  machineVersion: number;
  data: D;
}

/** The kind of every stream written before kinds existed (legacy envelopes, files and subjects). */
export const LEGACY_KIND = 'StatefulMigration';

/**
 * A chart kind: a Kubernetes-style kind name (a capital letter, then letters and digits, at most 63). It is used
 * as is in file names and NATS subject tokens, so it never holds a separator, a dot or a wildcard.
 */
export const KIND_PATTERN = /^[A-Z][A-Za-z0-9]{0,62}$/;

export function isKind(kind: unknown): kind is string {
  return typeof kind === 'string' && KIND_PATTERN.test(kind);
}

/** The text of a key in messages and maps: `<kind> <id>` (a kind never holds a space). */
export const keyText = (key: StreamKey): string => `${key.kind} ${key.id}`;

/**
 * True for a stored value in the legacy shape: an object with `migrationId` and without `kind`.
 *
 * @example
 * ```ts
 * isLegacyEnvelope({ migrationId: 'default/m1', seq: 1 }); // true
 * ```
 */
export function isLegacyEnvelope(value: unknown): value is LegacyEnvelope {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !('kind' in value) && 'migrationId' in value
  );
}

const LEGACY_FIELDS = ['seq', 'type', 'at', 'machineVersion', 'data'] as const;

/**
 * The envelope upcaster: a legacy envelope becomes `{kind: LEGACY_KIND, id: migrationId, seq, type, at,
 * machineVersion, data}` (key order of the current format); any other value is returned as it is (validation
 * comes after). Pure: it never changes its argument.
 *
 * @example
 * ```ts
 * upcastEnvelope({ migrationId: 'default/m1', seq: 1, type: 'MigrationRequested', at, machineVersion: 1, data });
 * // { kind: 'StatefulMigration', id: 'default/m1', seq: 1, type: 'MigrationRequested', at, machineVersion: 1, data }
 * ```
 */
export function upcastEnvelope(value: unknown): unknown {
  if (!isLegacyEnvelope(value)) return value;
  const out: Record<string, unknown> = { kind: LEGACY_KIND, id: value.migrationId };
  // a member the legacy value lacks stays missing, so validation names it
  for (const k of LEGACY_FIELDS) if (k in value) out[k] = value[k];
  return out;
}

/**
 * The legacy form of an envelope of kind {@link LEGACY_KIND}: what a log writes into a stream that it found in
 * the legacy layout, so that such a file or subject keeps one format from its first line to its last.
 *
 * @example
 * ```ts
 * JSON.stringify(toLegacyEnvelope(env)); // '{"migrationId":"default/m1","seq":4,...}'
 * ```
 */
export function toLegacyEnvelope(env: EventEnvelope): LegacyEnvelope {
  return {
    migrationId: env.id,
    seq: env.seq,
    type: env.type,
    at: env.at,
    machineVersion: env.machineVersion,
    data: env.data,
  };
}
