/**
 * The operator process's entry point (the image runs it; `ms2m operator` is the same with the ms2m CLI):
 *
 *   node actors/controller/main.ts --log-dir /var/lib/ms2m/log            (embedded file log)
 *   node actors/controller/main.ts --nats nats://nats.ms2m-system:4222      (JetStream)
 *
 * Every flag has an MS2M_* environment variable (the Deployment in crds/ sets them); see operator-process.ts.
 */
import { Command } from 'commander';
import { addOperatorOptions, type OperatorProcessOptions, operatorOptionsProblem } from './operator-options.ts';
import { startOperatorProcess } from './operator-process.ts';

const program = addOperatorOptions(
  new Command('ms2m-operator').description('The ms2m operator: runs StatefulMigrations'),
);

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<OperatorProcessOptions>();
  const problem = operatorOptionsProblem(o);
  if (problem) program.error(`ms2m-operator: ${problem}`);
  // the handlers first: a SIGTERM while the operator starts must stop it cleanly once it has started, not kill
  // it by the signal's default action
  let stopRequested = false;
  let shutdown: (() => Promise<void>) | undefined;
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.once(sig, () => {
      stopRequested = true;
      if (shutdown) void shutdown();
    });
  const op = await startOperatorProcess(o);
  shutdown = async () => {
    await op.stop();
    process.exit(0);
  };
  if (stopRequested) await shutdown();
}

main().catch((err: unknown) => {
  console.error(`ms2m-operator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
