/**
 * The evaluation producer process (`/app/producer.mjs` in the `ms2m/workloads` image): numbered messages at a
 * fixed rate to the durable fanout exchange, publisher-confirmed, through broker restarts, with its counters on
 * HTTP `GET /state` (`{sent, lastSeq, ...}`) and `GET /healthz`. SIGTERM stops it after the publication in flight.
 *
 * Flags win over environment variables (names as in SHADOW's producer manifest where it has one):
 *   --url          RABBITMQ_URL (or AMQP_URL)   amqp://guest:guest@127.0.0.1:5672
 *   --exchange     EXCHANGE_NAME                orders-fanout
 *   --queue        QUEUE_NAME                   orders   (declared and bound; "" declares the exchange only)
 *   --queue-type   QUEUE_TYPE                   classic
 *   --rate         MSG_RATE                     10 (messages per second)
 *   --count        MSG_COUNT                    unlimited
 *   --http-port    HTTP_PORT                    8080
 *   --log-level    LOG_LEVEL                    info
 */

import { onTermination } from './cli.ts';
import { parseProducerConfig } from './config.ts';
import { serveJson } from './http.ts';
import { createJsonLogger } from './log.ts';
import { RateProducer } from './rate-producer.ts';

async function main(argv: string[]): Promise<void> {
  const config = parseProducerConfig(argv);
  const log = createJsonLogger({ name: 'producer', level: config.logLevel });
  const producer = new RateProducer({
    url: config.url,
    exchange: config.exchange,
    ...(config.queue ? { queue: config.queue } : {}),
    queueType: config.queueType,
    rate: config.rate,
    ...(config.count === undefined ? {} : { count: config.count }),
    logger: log,
  });
  let stopping = false;
  const server = await serveJson(
    {
      '/state': () => ({ status: 200, body: producer.state() }),
      '/healthz': () => ({
        status: stopping ? 503 : 200,
        body: { status: stopping ? 'stopping' : 'ok', connected: producer.state().connected },
      }),
    },
    config.httpPort,
  );
  log.info({ port: server.port }, 'Serving /state and /healthz');
  onTermination(async () => {
    stopping = true;
    await producer.stop();
    await server.close();
  }, log);
  void producer.start();
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`producer: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
