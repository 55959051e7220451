/**
 * `ms2m operator`: runs the operator in this process, with the flags (and MS2M_* variables) of its image's entry
 * point (actors/controller/operator-process.ts). Runs until SIGTERM or SIGINT, then stops cleanly (exit 0).
 */
import type { Command } from 'commander';
import {
  addOperatorOptions,
  type OperatorProcessOptions,
  operatorOptionsProblem,
} from '../../actors/controller/operator-options.ts';
import { type CliIo, type CommandModule, UsageError } from '../command-context.ts';
import { untilSignal } from '../until-signal.ts';

export const operatorCommand: CommandModule = {
  name: 'operator',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('operator')
      .description('run the operator here (it runs the StatefulMigrations of the cluster); stop with Ctrl-C')
      .addHelpText(
        'after',
        `
The operator logs JSON lines (pino) on stdout; /metrics, /healthz and /readyz are served on --http-port.

Examples:
  $ ms2m operator --kubeconfig ~/.kube/config --log-dir /var/lib/ms2m/log --agent-token "$TOKEN" --no-leader-elect
  $ MS2M_NATS_URL=nats://127.0.0.1:4222 MS2M_AGENT_TOKEN=… ms2m operator --namespace shop`,
      );
    addOperatorOptions(cmd).action(async (o: OperatorProcessOptions) => {
      const problem = operatorOptionsProblem(o);
      if (problem) throw new UsageError(`ms2m operator: ${problem}`);
      // listening for the signal before the start: a SIGTERM while it starts stops it once started
      const signalled = untilSignal();
      const { startOperatorProcess } = await import('../../actors/controller/operator-process.ts');
      const op = await startOperatorProcess(o);
      io.stderr.write(`ms2m operator: running (http :${op.httpPort}); Ctrl-C stops it\n`);
      await signalled;
      await op.stop();
    });
  },
};
