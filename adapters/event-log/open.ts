/**
 * Chooses the event log implementation from configuration: the embedded file log (default) or JetStream.
 */
import type { Logger } from 'pino';
import { openFileLog } from '../file-log/file-log.ts';
import { openJetStreamLog } from '../nats/jetstream-log.ts';
import type { EventLog } from './port.ts';

export type EventLogConfig =
  | { kind: 'file'; dir: string }
  | { kind: 'nats'; servers: string | string[]; stream?: string; subjectPrefix?: string };

/**
 * Opens the configured event log.
 *
 * @example
 * ```ts
 * const log = await openEventLog({ kind: 'nats', servers: 'nats://127.0.0.1:4222' }, logger);
 * const local = await openEventLog({ kind: 'file', dir: '.ms2m/log' }, logger);
 * ```
 */
export async function openEventLog(config: EventLogConfig, logger: Logger): Promise<EventLog> {
  switch (config.kind) {
    case 'file':
      return openFileLog({ dir: config.dir, logger });
    case 'nats':
      return openJetStreamLog({
        servers: config.servers,
        logger,
        ...(config.stream === undefined ? {} : { stream: config.stream }),
        ...(config.subjectPrefix === undefined ? {} : { subjectPrefix: config.subjectPrefix }),
      });
  }
}
