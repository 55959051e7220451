import { describe, expect, it } from 'vitest';
import {
  type Broker,
  type BrokerConfig,
  type ControlMessage,
  endReplay,
  startReplay,
} from '../../adapters/rabbitmq/port.ts';

/** What a contract run needs from one implementation. */
export interface BrokerUnderTest {
  broker: Broker;
  /** A config with names unique to this test. */
  config(label: string): BrokerConfig;
  /** Control messages queued for `pod`, deduplicated by message id as a consumer would, oldest first. */
  controlMessages(pod: string): Promise<ControlMessage[]>;
}

let counter = 0;
const unique = (label: string) => `${label}-${process.pid}-${++counter}`;

/**
 * The behaviour every {@link Broker} must have, run against the fake and the real RabbitMQ adapter.
 *
 * @example
 * ```ts
 * brokerContract('fake', async () => ({ broker, config, controlMessages }));
 * ```
 */
export function brokerContract(name: string, open: () => BrokerUnderTest): void {
  describe(`Broker contract: ${name}`, () => {
    it('declares topology and the replay queue idempotently and names it <queue>.ms2m-replay', async () => {
      const { broker, config } = open();
      const cfg = config(unique('orders'));
      await broker.ensureTopology(cfg, 'm:topology');
      await broker.ensureTopology(cfg, 'm:topology');
      expect(await broker.createReplayQueue(cfg, 'm:replay')).toBe(`${cfg.queueName}.ms2m-replay`);
      expect(await broker.createReplayQueue(cfg, 'm:replay')).toBe(`${cfg.queueName}.ms2m-replay`);
      const d = await broker.depth(cfg, `${cfg.queueName}.ms2m-replay`);
      expect(d).toMatchObject({ depth: 0, ready: 0, unacked: 0 });
      expect((await broker.depth(cfg, cfg.queueName)).depth).toBe(0);
    });

    it('refuses a replay queue on an exchange that was never declared, naming it', async () => {
      const { broker, config } = open();
      const cfg = config(unique('nox'));
      await expect(broker.createReplayQueue(cfg, 'm:replay')).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringContaining(cfg.exchangeName),
      });
    });

    it('unbinds and deletes idempotently, also when the queue never existed', async () => {
      const { broker, config } = open();
      const cfg = config(unique('del'));
      await broker.unbindReplayQueue(cfg, 'm:unbind');
      await broker.deleteReplayQueue(cfg, 'm:delete');
      await broker.ensureTopology(cfg, 'm:topology');
      const replay = await broker.createReplayQueue(cfg, 'm:replay');
      await broker.unbindReplayQueue(cfg, 'm:unbind');
      await broker.unbindReplayQueue(cfg, 'm:unbind');
      expect((await broker.depth(cfg, replay)).depth).toBe(0);
      await broker.deleteReplayQueue(cfg, 'm:delete');
      await broker.deleteReplayQueue(cfg, 'm:delete');
      await expect(broker.depth(cfg, replay)).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringContaining(replay),
      });
    });

    it('sends START_REPLAY and END_REPLAY to ms2m.control.<pod>; a re-send with the same key is one message', async () => {
      const { broker, config, controlMessages } = open();
      const cfg = config(unique('ctl'));
      const pod = unique('app-0-shadow');
      await broker.ensureTopology(cfg, 'm:topology');
      const replay = await broker.createReplayQueue(cfg, 'm:replay');
      await broker.sendControl(cfg, pod, startReplay(replay), 'm:start-replay');
      await broker.sendControl(cfg, pod, startReplay(replay), 'm:start-replay');
      await broker.sendControl(cfg, pod, endReplay(), 'm:end-replay');
      expect(await controlMessages(pod)).toEqual([
        { type: 'START_REPLAY', payload: { queue: `${cfg.queueName}.ms2m-replay` } },
        { type: 'END_REPLAY' },
      ]);
    });
  });
}
