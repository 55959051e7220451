/**
 * `ms2m logs <name>`: one migration's event log, from the embedded file log (`--log DIR`) or JetStream
 * (`--nats URL`), read-only: one line per event (seq, time, offset, phase after it, type, what it says), or the
 * stored envelopes as JSON lines (`-o jsonl`). `-f` keeps printing new events until the migration has ended.
 */
import type { Command } from 'commander';
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import type { EventLogReader } from '../../adapters/event-log/port.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';
import { duration, outputFormat } from '../cli-options.ts';
import type { CliIo, CommandModule } from '../command-context.ts';
import { addKubeOptions, type KubeOptions } from '../kube-options.ts';
import type { MigrationStream } from '../log-source.ts';
import { addLogSourceOptions, type LogSourceOptions, sourceName } from '../log-source-options.ts';
import { DEFAULT_TIMEOUT } from './follow.ts';

interface LogsOptions extends LogSourceOptions, KubeOptions {
  output: 'text' | 'jsonl';
  follow?: boolean;
  timeout?: number;
}

const POLL_MS = 500;

/** Prints events as they are added; true once the migration has ended. */
async function printer(io: CliIo, output: 'text' | 'jsonl') {
  const { formatRow, Timeline } = await import('../../actors/timeline.ts');
  const t = new Timeline();
  return (events: EventEnvelope[]): boolean => {
    for (const env of events) {
      const row = t.add(env);
      if (output === 'jsonl') io.stdout.write(`${JSON.stringify(env)}\n`);
      else io.stdout.write(`${String(env.seq).padStart(4)}  ${env.at}  ${formatRow(row)}\n`);
    }
    return t.final?.status === 'done';
  };
}

async function waitForStream(
  reader: EventLogReader,
  o: LogsOptions,
  name: string,
  deadline: number,
): Promise<MigrationStream> {
  const [{ findMigration }, { namespaceOf }] = await Promise.all([import('../log-source.ts'), import('../kube.ts')]);
  for (;;) {
    try {
      return await findMigration(reader, namespaceOf(o), name, sourceName(o));
    } catch (err) {
      if (!o.follow || !(err instanceof Ms2mError && err.code === ErrorCode.NOT_FOUND) || Date.now() >= deadline)
        throw err;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export const logsCommand: CommandModule = {
  name: 'logs',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('logs')
      .description("a migration's event log (read-only), from an embedded log or JetStream")
      .argument('<name>', 'the migration: NAME (in -n), NAMESPACE/NAME, or a stream id NAMESPACE/NAME/UID')
      .option(
        '-o, --output <format>',
        'text or jsonl (the stored events, one JSON per line)',
        outputFormat('logs', ['text', 'jsonl']),
        'text',
      )
      .option('-f, --follow', 'keep printing new events until the migration has ended')
      .option(
        '--timeout <duration>',
        `with -f: give up after this long (default ${DEFAULT_TIMEOUT})`,
        duration('--timeout'),
      )
      .addHelpText(
        'after',
        `
NAME is looked up in -n (default: the kubeconfig context's namespace, else default; the API server is not
contacted). A name reused by a newer StatefulMigration has several logs: the one that started last is shown (give the
stream id NAMESPACE/NAME/UID for another; ms2m timeline --log DIR lists them).

Examples:
  $ ms2m logs m1 --log /var/lib/ms2m/log
  $ ms2m logs shop/m1 --nats nats://127.0.0.1:4222 -o jsonl > m1.jsonl
  $ ms2m logs m1 --nats nats://127.0.0.1:4222 -f`,
      );
    addLogSourceOptions(addKubeOptions(cmd)).action(async (name: string, o: LogsOptions) => {
      const timeoutMs = o.timeout ?? duration('--timeout')(DEFAULT_TIMEOUT);
      const deadline = Date.now() + timeoutMs;
      const { openLogSource } = await import('../log-source.ts');
      const { goDuration } = await import('../../actors/go-duration.ts');
      const reader = await openLogSource(o, 'ms2m logs', io.stderr);
      try {
        const { key, events } = await waitForStream(reader, o, name, deadline);
        const print = await printer(io, o.output);
        let ended = print(events);
        let seq = events.at(-1)?.seq ?? 0;
        while (o.follow && !ended) {
          if (Date.now() >= deadline)
            throw new Ms2mError(
              ErrorCode.UNAVAILABLE,
              `Migration ${key.id} has not ended after ${goDuration(timeoutMs)} (--timeout)`,
              { transient: true },
            );
          await new Promise((r) => setTimeout(r, POLL_MS));
          const more = await reader.read(key, seq + 1);
          ended = print(more);
          seq = more.at(-1)?.seq ?? seq;
        }
      } finally {
        await reader.close();
      }
    });
  },
};
