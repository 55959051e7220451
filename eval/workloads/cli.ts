/**
 * Command-line plumbing shared by producer.ts and consumer.ts: option parsers (flags win over environment
 * variables, which win over defaults: commander's `Option.env`), and graceful termination.
 */
import { InvalidArgumentError, Option } from 'commander';
import { isLogLevel, type LogLevel } from './log.ts';

/** The AMQP URL default: `AMQP_URL` when set (SHADOW's manifests use `RABBITMQ_URL`, which wins). */
export const defaultAmqpUrl = (env: NodeJS.ProcessEnv = process.env): string =>
  env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${value}"`);
    return n;
  };
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a number > 0, got "${value}"`);
  return n;
}

export function logLevel(value: string): LogLevel {
  if (!isLogLevel(value)) throw new InvalidArgumentError(`expected debug, info, warn, error or silent, got "${value}"`);
  return value;
}

export function queueType(value: string): 'classic' | 'quorum' {
  if (value !== 'classic' && value !== 'quorum')
    throw new InvalidArgumentError(`expected classic or quorum, got "${value}"`);
  return value;
}

/** An option read from a flag, else from `env`, else its default. */
export function envOption(flags: string, description: string, env: string): Option {
  return new Option(flags, description).env(env);
}

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits 0 (1 if stopping failed). A second signal exits at once.
 *
 * @example
 * ```ts
 * onTermination(async () => { await producer.stop(); await server.close(); }, log);
 * ```
 */
export function onTermination(stop: () => Promise<void>, log: { info(f: object, m: string): void }): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, `Received ${signal}; stopping`);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stopping failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
