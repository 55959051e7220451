/**
 * Where the reading commands (`status --log`, `timeline`, `logs`) find migrations: the embedded file log
 * (`--log DIR`) or JetStream (`--nats URL`), both opened read-only, and the streams of one migration by name.
 */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { NotFoundError } from '../adapters/errors.ts';
import type { EventLogReader } from '../adapters/event-log/port.ts';
import type { EventEnvelope, StreamKey } from '../machines/envelope.ts';
import { MIGRATION_KIND } from '../machines/migration-chart.ts';
import { UsageError } from './command-context.ts';
import type { LogSourceOptions } from './log-source-options.ts';

// the light half, for command files that import this module directly
export { addLogSourceOptions, type LogSourceOptions, sourceName } from './log-source-options.ts';

/**
 * Opens the log `o` names, read-only. `command` names the command in the usage error when neither is given.
 *
 * @example
 * ```ts
 * const reader = await openLogSource({ log: '.ms2m/log' }, 'ms2m logs', process.stderr);
 * ```
 */
export async function openLogSource(
  o: LogSourceOptions,
  command: string,
  stderr: NodeJS.WritableStream,
): Promise<EventLogReader> {
  if (o.log !== undefined && o.nats !== undefined)
    throw new UsageError(`${command} reads one log: give --log DIR or --nats URL, not both`);
  const logger = cliLogger(stderr);
  // the readers load when a command opens one (the NATS client alone takes ~0.3 s): `ms2m help` stays quick
  if (o.log !== undefined) {
    const { openFileLogReader } = await import('../adapters/file-log/file-log-reader.ts');
    return openFileLogReader({ dir: o.log, logger });
  }
  if (o.nats !== undefined) {
    const { openJetStreamLogReader } = await import('../adapters/nats/jetstream-log.ts');
    return openJetStreamLogReader({
      servers: o.nats,
      logger,
      ...(o.natsStream ? { stream: o.natsStream } : {}),
      ...(o.natsSubjectPrefix ? { subjectPrefix: o.natsSubjectPrefix } : {}),
    });
  }
  throw new UsageError(`${command} needs --log DIR (an embedded event log directory) or --nats URL (JetStream)`);
}

/** One migration's stream, with its events. */
export interface MigrationStream {
  key: StreamKey;
  events: EventEnvelope[];
}

/**
 * The stream of migration `ref`: an exact stream id (`namespace/name/uid`, or `namespace/name` of logs written
 * before UIDs), or `name` in `namespace`. A name reused by a newer resource has several streams: the one that
 * started last is taken. NotFoundError names the migrations the log holds.
 *
 * @example
 * ```ts
 * const { key, events } = await findMigration(reader, 'default', 'm1', '.ms2m/log');
 * ```
 */
export async function findMigration(
  reader: EventLogReader,
  namespace: string,
  ref: string,
  where: string,
): Promise<MigrationStream> {
  const keys = await reader.list(MIGRATION_KIND);
  const id = ref.includes('/') ? ref : `${namespace}/${ref}`;
  const candidates = keys.filter((k) => k.id === id || (id.split('/').length === 2 && k.id.startsWith(`${id}/`)));
  let best: MigrationStream | undefined;
  for (const key of candidates) {
    const events = await reader.read(key);
    if (events.length === 0) continue;
    if (!best || (events[0]?.at ?? '') > (best.events[0]?.at ?? '')) best = { key, events };
  }
  if (best) return best;
  const known = keys.map((k) => k.id);
  const hint =
    known.length === 0
      ? 'the log holds no migrations'
      : `known: ${known.slice(0, 5).join(', ')}${known.length > 5 ? `, … (${known.length} in all)` : ''}`;
  throw new NotFoundError('Migration', id, `no events of it in ${where} (${hint})`);
}

/** Warnings as `ms2m: warning: <message>` lines on stderr (the CLI's user reads them, not a log collector). */
export function cliLogger(stderr: NodeJS.WritableStream): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        const rec = JSON.parse(line) as { level: number; msg?: string };
        stderr.write(`ms2m: ${rec.level >= 50 ? 'error' : 'warning'}: ${(rec.msg ?? '').replace(/\s*\n\s*/g, '; ')}\n`);
      }
      cb();
    },
  });
  return pino({ level: 'warn' }, sink);
}
