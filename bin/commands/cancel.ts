/**
 * `ms2m cancel <name>`: sets `spec.cancel: true` (API.md): the operator stops the migration at any phase before
 * Finalizing and compensates (the source keeps serving). With `--wait`, follows it to its end.
 */
import type { Command } from 'commander';
import { duration } from '../cli-options.ts';
import type { CliIo, CommandModule } from '../command-context.ts';
import { addKubeOptions, type KubeOptions } from '../kube-options.ts';
import { DEFAULT_TIMEOUT } from './follow.ts';

export const cancelCommand: CommandModule = {
  name: 'cancel',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('cancel')
      .description('cancel a StatefulMigration (spec.cancel: true); the operator compensates')
      .argument('<name>', 'the StatefulMigration')
      .option('--wait', 'follow it until it has ended (exit 0 when it ended Cancelled)')
      .option(
        '--timeout <duration>',
        `with --wait: give up after this long (default ${DEFAULT_TIMEOUT})`,
        duration('--timeout'),
      )
      .addHelpText(
        'after',
        `
A migration that already reached Finalizing completes: cancel cannot undo it (exit 1 with --wait).

Examples:
  $ ms2m cancel m1
  $ ms2m cancel m1 -n shop --wait`,
      );
    addKubeOptions(cmd).action(async (name: string, o: KubeOptions & { wait?: boolean; timeout?: number }) => {
      const [{ connect }, { followMigration }, { ErrorCode, Ms2mError }] = await Promise.all([
        import('../kube.ts'),
        import('../migration-follow.ts'),
        import('../../adapters/errors.ts'),
      ]);
      const m = connect(o);
      const id = `${m.namespace}/${name}`;
      const before = await m.get(name);
      const phase = before.status?.phase;
      if (phase === 'Completed' || phase === 'Failed')
        throw new Ms2mError(
          ErrorCode.CONFLICT,
          `StatefulMigration ${id} has already ended (${phase}): nothing to cancel`,
        );
      if (!before.spec.cancel) await m.patchSpec(name, { cancel: true });
      io.stdout.write(`StatefulMigration ${id} cancel requested (phase ${phase ?? 'Pending'})\n`);
      if (!o.wait) return;
      const done = await followMigration(m, name, io, {
        timeoutMs: o.timeout ?? duration('--timeout')(DEFAULT_TIMEOUT),
      });
      const s = done.status ?? {};
      const reason = s.conditions?.find((c) => c.type === 'Failed' && c.status === 'True')?.reason;
      if (s.phase === 'Failed' && reason === 'Cancelled') {
        io.stdout.write(`StatefulMigration ${id} Cancelled: ${s.message ?? ''}\n`);
        return;
      }
      throw new Ms2mError(
        ErrorCode.CONFLICT,
        `StatefulMigration ${id} ended ${s.phase}${reason ? ` (${reason})` : ''} instead of Cancelled: ${s.message ?? ''}`,
      );
    });
  },
};
