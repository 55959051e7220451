/**
 * The evaluation consumer, built but not run (consumer.ts runs it): a {@link MigratableConsumer} whose handler
 * simulates `delayMs` of work per message and keeps the state a migration must carry over, in memory:
 *
 * - `processed`: messages processed (each sequence number once);
 * - `lastSeq` / `maxSeq`: the sequence number processed last / the highest one;
 * - `checksum`: order-independent checksum over the processed sequence numbers (see checksum.ts);
 * - `duplicates`: how many deliveries were skipped as already processed, and their sequence numbers.
 *
 * With `ballastMib`, the process also holds that much incompressible memory, so checkpoints can be sized.
 */
import { randomFillSync } from 'node:crypto';
import { type Checksum, SequenceChecksum } from './checksum.ts';
import type { ConsumerConfig } from './config.ts';
import {
  type ConsumerLogger,
  type ControlType,
  dataQueueOf,
  MigratableConsumer,
  type MigratableConsumerOptions,
  SequenceSet,
} from './consumer-lib/index.ts';

/** What GET /state answers. */
export interface ConsumerState {
  pod: string | null;
  podUid: string | null;
  controlQueue: string | null;
  /** `primary`, `replay`, `stopped` or `awaiting-replay`. */
  mode: string;
  /** The queue consumed now (null in `stopped` / `awaiting-replay`). */
  consuming: string | null;
  connected: boolean;
  connects: number;
  processed: number;
  lastSeq: number | null;
  maxSeq: number | null;
  /** Every sequence number from the first up to this one is processed. */
  contiguousTo: number;
  checksum: Checksum;
  duplicates: { skipped: number; seqs: number[] };
  invalid: number;
  /** Control messages applied, in order. */
  control: ControlType[];
  /** Times the consumer found itself in another pod (restored) on a reconnect. */
  restores: number;
  delayMs: number;
  ballastMib: number;
}

export type ConsumerAppConfig = Pick<
  ConsumerConfig,
  | 'url'
  | 'queue'
  | 'exchange'
  | 'queueType'
  | 'delayMs'
  | 'prefetch'
  | 'ballastMib'
  | 'podNameFile'
  | 'podUidFile'
  | 'identityPollMs'
  | 'heartbeatSeconds'
  | 'firstSeq'
>;

export interface ConsumerApp {
  readonly consumer: MigratableConsumer;
  state(): ConsumerState;
  /** Ready to serve: connected to the broker and not stopping. */
  healthy(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * @example
 * ```ts
 * const app = createConsumerApp({ ...config, delayMs: 50 }, logger);
 * await app.start();
 * app.state().processed;
 * ```
 */
export function createConsumerApp(
  config: ConsumerAppConfig,
  logger: ConsumerLogger,
  overrides: Partial<MigratableConsumerOptions> = {},
): ConsumerApp {
  const ballast = allocateBallast(config.ballastMib);
  const checksum = new SequenceChecksum();
  const duplicateSeqs = new Set<number>();
  const control: ControlType[] = [];
  let processed = 0;
  let skipped = 0;
  let restores = 0;
  let lastSeq: number | null = null;
  let maxSeq: number | null = null;
  let stopping = false;

  const consumer = new MigratableConsumer({
    url: config.url,
    queue: config.queue,
    ...(config.exchange ? { exchange: config.exchange } : {}),
    queueType: config.queueType,
    prefetch: config.prefetch,
    heartbeatSeconds: config.heartbeatSeconds,
    identityPollMs: config.identityPollMs,
    identity: {
      nameFile: config.podNameFile,
      ...(config.podUidFile === undefined ? {} : { uidFile: config.podUidFile }),
    },
    processed: new SequenceSet(config.firstSeq),
    logger,
    handler: async ({ seq }) => {
      if (config.delayMs > 0) await new Promise((r) => setTimeout(r, config.delayMs));
      // the state changes in one synchronous step after the work: a checkpoint sees all of it or none
      processed++;
      lastSeq = seq;
      maxSeq = maxSeq === null ? seq : Math.max(maxSeq, seq);
      checksum.add(seq);
    },
    ...overrides,
  });
  consumer.on('duplicate', ({ seq }) => {
    skipped++;
    duplicateSeqs.add(seq);
  });
  consumer.on('control', ({ message, repeated }) => {
    if (!repeated) control.push(message.type);
  });
  consumer.on('restored', () => {
    restores++;
  });

  return {
    consumer,
    state() {
      const id = consumer.identity;
      const stats = consumer.stats();
      return {
        pod: id?.name ?? null,
        podUid: id?.uid ?? null,
        controlQueue: consumer.controlQueue ?? null,
        mode: consumer.mode.kind,
        consuming: dataQueueOf(consumer.mode, config.queue),
        connected: consumer.connected,
        connects: stats.connects,
        processed,
        lastSeq,
        maxSeq,
        contiguousTo: consumer.processed.contiguousTo,
        checksum: checksum.toJSON(),
        duplicates: { skipped, seqs: [...duplicateSeqs].sort((a, b) => a - b) },
        invalid: stats.invalid,
        control: [...control],
        restores,
        delayMs: config.delayMs,
        ballastMib: ballast.length,
      };
    },
    healthy: () => !stopping && consumer.connected,
    start: () => consumer.start(),
    async stop() {
      stopping = true;
      await consumer.stop();
    },
  };
}

/** `mib` MiB of random bytes, 1 MiB per buffer, every page written (resident, and incompressible). */
export function allocateBallast(mib: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < mib; i++) chunks.push(randomFillSync(Buffer.allocUnsafeSlow(1 << 20)));
  return chunks;
}
