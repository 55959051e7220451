/**
 * `--log DIR` / `--nats URL` of the commands that read an event log (light: the readers are loaded by
 * bin/log-source.ts only when a command runs).
 */
import { type Command, Option } from 'commander';
import { text } from './cli-options.ts';

export interface LogSourceOptions {
  log?: string;
  nats?: string;
  natsStream?: string;
  natsSubjectPrefix?: string;
}

/**
 * Adds `--log DIR`, `--nats URL`, `--nats-stream`, `--nats-subject-prefix` to `cmd`.
 *
 * @example
 * ```ts
 * addLogSourceOptions(program.command('logs'));
 * ```
 */
export function addLogSourceOptions(cmd: Command): Command {
  return cmd
    .option('--log <dir>', 'the embedded event log directory (read-only)', text('--log'))
    .addOption(
      new Option('--nats <url>', 'the JetStream event log, e.g. nats://127.0.0.1:4222 (read-only)')
        .env('MS2M_NATS_URL')
        .argParser(text('--nats')),
    )
    .option('--nats-stream <name>', 'JetStream stream of the log (default MS2M_EVENTS)', text('--nats-stream'))
    .option(
      '--nats-subject-prefix <prefix>',
      'subject prefix of the log (default ms2m.events)',
      text('--nats-subject-prefix'),
    );
}

/** A label for messages: the directory or the NATS URL. */
export const sourceName = (o: LogSourceOptions): string => o.log ?? `${o.nats}`;
