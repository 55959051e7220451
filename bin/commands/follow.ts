/**
 * `ms2m follow <name>`: follows a StatefulMigration to its end (phase, bytes with rate and ETA, replay depth);
 * exit 0 when Completed, 1 when Failed (with the reason).
 */
import type { Command } from 'commander';
import { duration, outputFormat } from '../cli-options.ts';
import type { CliIo, CommandModule } from '../command-context.ts';
import { addKubeOptions, type KubeOptions } from '../kube-options.ts';
import type { ResultFormat } from '../migration-follow.ts';

export const DEFAULT_TIMEOUT = '1h';

export const followCommand: CommandModule = {
  name: 'follow',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('follow')
      .description('follow a StatefulMigration until it is Completed (exit 0) or Failed (exit 1)')
      .argument('<name>', 'the StatefulMigration')
      .option(
        '--timeout <duration>',
        'give up following after this long (the migration goes on)',
        duration('--timeout'),
      )
      .option('-q, --quiet', 'no progress, only the result')
      .option(
        '-o, --output <format>',
        'the result: text, json or yaml',
        outputFormat('follow', ['text', 'json', 'yaml']),
        'text',
      )
      .addHelpText(
        'after',
        `
Progress goes to stderr: a progress bar on a terminal, plain lines otherwise; the result goes to stdout.

Examples:
  $ ms2m follow m1
  $ ms2m follow m1 -n shop --timeout 10m -o json > m1.json`,
      );
    addKubeOptions(cmd).action(
      async (name: string, o: KubeOptions & { timeout?: number; quiet?: boolean; output: ResultFormat }) => {
        const [{ connect }, { finish, followMigration }] = await Promise.all([
          import('../kube.ts'),
          import('../migration-follow.ts'),
        ]);
        const m = connect(o);
        const done = await followMigration(m, name, io, {
          timeoutMs: o.timeout ?? duration('--timeout')(DEFAULT_TIMEOUT),
          quiet: o.quiet,
        });
        finish(done, io, o.output);
      },
    );
  },
};
