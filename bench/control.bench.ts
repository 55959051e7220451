// Control message latency: persistent publish to ms2m.control.<pod> on a confirm channel, until confirmed.
import pino from 'pino';
import { endReplay, startReplay } from '../adapters/rabbitmq/port.ts';
import { createRabbitBroker } from '../adapters/rabbitmq/rabbitmq.ts';
import { startRabbit } from '../test/harness/rabbitmq.ts';
import { percentile, timeEach } from './percentiles.ts';

const MESSAGES = 2000;

export async function run(): Promise<Record<string, unknown>> {
  process.stderr.write('control: starting RabbitMQ (5-10 s)\n');
  const rabbit = await startRabbit();
  const broker = createRabbitBroker({ logger: pino({ level: 'warn' }), managementUrl: rabbit.managementUrl });
  try {
    const cfg = { brokerUrl: rabbit.url, exchangeName: 'bench.x', queueName: 'bench' };
    await broker.ensureTopology(cfg, 'bench:topology');
    const replay = await broker.createReplayQueue(cfg, 'bench:replay');
    const send = (i: number) =>
      broker.sendControl(cfg, `pod-${i % 10}`, i % 2 ? endReplay() : startReplay(replay), `bench/m${i}:control`);
    await timeEach(200, send);
    process.stderr.write(`control: ${MESSAGES} confirmed control messages\n`);
    const ms = await timeEach(MESSAGES, send);
    return { messages: MESSAGES, p50_ms: percentile(ms, 50), p99_ms: percentile(ms, 99) };
  } finally {
    await broker.close();
    await rabbit.stop();
  }
}
