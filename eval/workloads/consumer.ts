/**
 * The evaluation consumer process (`/app/consumer.mjs` in the `ms2m/workloads` image): a migration-aware
 * consumer (consumer-lib) that spends `--delay-ms` per message and serves its state:
 *
 *   GET /state, GET /   the state JSON (consumer-app.ts `ConsumerState`; `/` is what SHADOW's downtime probe asks)
 *   GET /healthz        200 {"status":"ok",...} while connected to the broker, else 503 (readiness; no liveness:
 *                       a restart of a restored container would go back to the checkpoint)
 *
 * Flags win over environment variables:
 *   --url               RABBITMQ_URL (or AMQP_URL)  amqp://guest:guest@127.0.0.1:5672
 *   --queue             QUEUE_NAME                  orders
 *   --exchange          EXCHANGE_NAME               orders-fanout ("" = do not declare or bind)
 *   --queue-type        QUEUE_TYPE                  classic
 *   --delay-ms          PROCESSING_DELAY_MS         50
 *   --prefetch          PREFETCH                    10
 *   --http-port         HTTP_PORT                   8080
 *   --ballast-mib       BALLAST_MIB                 0
 *   --pod-name-file     POD_NAME_FILE               /etc/podinfo/name (then env POD_NAME, then the hostname)
 *   --pod-uid-file      POD_UID_FILE                uid beside the name file
 *   --identity-poll-ms  IDENTITY_POLL_MS            1000
 *   --heartbeat         AMQP_HEARTBEAT_SECONDS      5
 *   --first-seq         FIRST_SEQ                   1
 *   --log-level         LOG_LEVEL                   info
 * and MS2M_RESTORE_MODE=true starts it waiting for START_REPLAY.
 */
import { onTermination } from './cli.ts';
import { parseConsumerConfig } from './config.ts';
import { createConsumerApp } from './consumer-app.ts';
import { serveJson } from './http.ts';
import { createJsonLogger } from './log.ts';

async function main(argv: string[]): Promise<void> {
  const config = parseConsumerConfig(argv);
  const log = createJsonLogger({ name: 'consumer', level: config.logLevel });
  const app = createConsumerApp(config, log);
  const state = () => ({ status: 200, body: app.state() });
  const server = await serveJson(
    {
      '/': state,
      '/state': state,
      '/healthz': () => {
        const s = app.state();
        const ok = app.healthy();
        return {
          status: ok ? 200 : 503,
          body: { status: ok ? 'ok' : 'unavailable', connected: s.connected, mode: s.mode, pod: s.pod },
        };
      },
    },
    config.httpPort,
  );
  log.info({ port: server.port, queue: config.queue, delayMs: config.delayMs }, 'Serving /state and /healthz');
  onTermination(async () => {
    await app.stop();
    await server.close();
  }, log);
  // start() settles once connected, retrying until then; it rejects only when stopped first (SIGTERM)
  app.start().catch(() => {});
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`consumer: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
