/**
 * `ms2m demo`: brings up the local cluster, migrates a live RabbitMQ consumer between its two nodes with live
 * progress, checks that nothing was lost or processed twice, and writes the timeline and figures (bin/demo.ts).
 */
import type { Command } from 'commander';
import { oneOf, text, wholeNumber } from '../cli-options.ts';
import { type CliIo, type CommandModule, ExitCode } from '../command-context.ts';

export const demoCommand: CommandModule = {
  name: 'demo',
  register(program: Command, io: CliIo) {
    program
      .command('demo')
      .description("migrate a live consumer between the local cluster's nodes, with zero loss checked")
      .option('--keep', 'leave the cluster and the workloads up afterwards')
      .option(
        '--transfer <mode>',
        'Direct or Registry',
        oneOf('--transfer', ['Direct', 'Registry'] as const, 'a transfer mode'),
        'Direct',
      )
      .option('--rate <n>', 'messages per second', wholeNumber('--rate'), 10)
      .option('--seconds <n>', 'seconds of production in all', wholeNumber('--seconds'), 20)
      .option('--dir <dir>', "where each run's timeline and figures go", text('--dir'), '.ms2m/demo')
      .addHelpText(
        'after',
        `
Exit code 0 when the migration completed with every message processed exactly once.

Examples:
  $ ms2m demo
  $ ms2m demo --transfer Registry --rate 20 --keep`,
      )
      .action(
        async (o: { keep?: boolean; transfer: 'Direct' | 'Registry'; rate: number; seconds: number; dir: string }) => {
          const { demo } = await import('../demo.ts');
          const code = await demo({
            dir: o.dir,
            keep: o.keep ?? false,
            transferMode: o.transfer,
            rate: o.rate,
            seconds: o.seconds,
            out: (line) => io.stdout.write(`${line}\n`),
            err: (line) => io.stderr.write(`${line}\n`),
          });
          if (code !== 0) throw new ExitCode(code);
        },
      );
  },
};
