/**
 * Configuration of the workload processes from flags and the environment (flags win, then environment variables,
 * then defaults). Names follow SHADOW's evaluation manifests where they have one (RABBITMQ_URL, QUEUE_NAME,
 * EXCHANGE_NAME, MSG_RATE, PROCESSING_DELAY_MS). A bad value exits with a usage message (commander).
 */
import { Command } from 'commander';
import { defaultAmqpUrl, envOption, integer, logLevel, positiveNumber, queueType } from './cli.ts';
import { DEFAULT_NAME_FILE } from './consumer-lib/index.ts';
import type { LogLevel } from './log.ts';

export interface ProducerConfig {
  url: string;
  exchange: string;
  queue: string;
  queueType: 'classic' | 'quorum';
  rate: number;
  count: number | undefined;
  httpPort: number;
  logLevel: LogLevel;
}

/** Parses flags (`argv` as `process.argv`) and the environment. Exits with a usage message on a bad value. */
export function parseProducerConfig(argv: string[]): ProducerConfig {
  const cmd = new Command('producer')
    .description('ms2m evaluation producer: numbered messages at a fixed rate')
    .addOption(envOption('--url <url>', 'AMQP URL', 'RABBITMQ_URL').default(defaultAmqpUrl()))
    .addOption(envOption('--exchange <name>', 'durable fanout exchange', 'EXCHANGE_NAME').default('orders-fanout'))
    .addOption(
      envOption('--queue <name>', 'primary queue to declare and bind ("" for none)', 'QUEUE_NAME').default('orders'),
    )
    .addOption(
      envOption('--queue-type <type>', 'classic or quorum', 'QUEUE_TYPE').argParser(queueType).default('classic'),
    )
    .addOption(
      envOption('--rate <msgPerSecond>', 'messages per second', 'MSG_RATE').argParser(positiveNumber).default(10),
    )
    .addOption(envOption('--count <n>', 'stop after n messages', 'MSG_COUNT').argParser(integer(0)))
    .addOption(
      envOption('--http-port <port>', 'HTTP port for /state', 'HTTP_PORT').argParser(integer(0, 65535)).default(8080),
    )
    .addOption(
      envOption('--log-level <level>', 'debug|info|warn|error|silent', 'LOG_LEVEL').argParser(logLevel).default('info'),
    )
    .parse(argv);
  const o = cmd.opts<{
    url: string;
    exchange: string;
    queue: string;
    queueType: 'classic' | 'quorum';
    rate: number;
    count?: number;
    httpPort: number;
    logLevel: LogLevel;
  }>();
  return { ...o, count: o.count };
}

export interface ConsumerConfig {
  url: string;
  queue: string;
  /** "" = do not declare the exchange or bind the queue. */
  exchange: string;
  queueType: 'classic' | 'quorum';
  delayMs: number;
  prefetch: number;
  httpPort: number;
  ballastMib: number;
  podNameFile: string;
  podUidFile: string | undefined;
  identityPollMs: number;
  heartbeatSeconds: number;
  firstSeq: number;
  logLevel: LogLevel;
}

/** Parses flags (`argv` as `process.argv`) and the environment. Exits with a usage message on a bad value. */
export function parseConsumerConfig(argv: string[]): ConsumerConfig {
  const cmd = new Command('consumer')
    .description('ms2m evaluation consumer: migration-aware, de-duplicating, state on HTTP')
    .addOption(envOption('--url <url>', 'AMQP URL', 'RABBITMQ_URL').default(defaultAmqpUrl()))
    .addOption(envOption('--queue <name>', 'primary queue', 'QUEUE_NAME').default('orders'))
    .addOption(
      envOption('--exchange <name>', 'fanout exchange to bind the queue to ("" for none)', 'EXCHANGE_NAME').default(
        'orders-fanout',
      ),
    )
    .addOption(
      envOption('--queue-type <type>', 'classic or quorum', 'QUEUE_TYPE').argParser(queueType).default('classic'),
    )
    .addOption(
      envOption('--delay-ms <ms>', 'processing time per message', 'PROCESSING_DELAY_MS')
        .argParser(integer(0))
        .default(50),
    )
    .addOption(
      envOption('--prefetch <n>', 'unacknowledged messages in flight', 'PREFETCH')
        .argParser(integer(1, 65535))
        .default(10),
    )
    .addOption(
      envOption('--http-port <port>', 'HTTP port for /state and /healthz', 'HTTP_PORT')
        .argParser(integer(0, 65535))
        .default(8080),
    )
    .addOption(
      envOption('--ballast-mib <n>', 'extra resident memory (MiB) to size the checkpoint', 'BALLAST_MIB')
        .argParser(integer(0, 65536))
        .default(0),
    )
    .addOption(
      envOption('--pod-name-file <path>', 'downward-API file with the pod name', 'POD_NAME_FILE').default(
        DEFAULT_NAME_FILE,
      ),
    )
    .addOption(
      envOption(
        '--pod-uid-file <path>',
        'downward-API file with the pod UID (default: uid beside the name file)',
        'POD_UID_FILE',
      ),
    )
    .addOption(
      envOption('--identity-poll-ms <ms>', 're-read the identity this often (0: only on reconnect)', 'IDENTITY_POLL_MS')
        .argParser(integer(0))
        .default(1000),
    )
    .addOption(
      envOption('--heartbeat <s>', 'AMQP heartbeat in seconds', 'AMQP_HEARTBEAT_SECONDS')
        .argParser(integer(0, 3600))
        .default(5),
    )
    .addOption(
      envOption('--first-seq <n>', 'first sequence number the producer sends (SHADOW: 0)', 'FIRST_SEQ')
        .argParser(integer(0))
        .default(1),
    )
    .addOption(
      envOption('--log-level <level>', 'debug|info|warn|error|silent', 'LOG_LEVEL').argParser(logLevel).default('info'),
    )
    .parse(argv);
  const o = cmd.opts<Omit<ConsumerConfig, 'podUidFile'> & { podUidFile?: string }>();
  return { ...o, podUidFile: o.podUidFile };
}
