import { virtualClock } from '../../adapters/clock/fake.ts';
import { FakeBroker } from '../../adapters/rabbitmq/fake.ts';
import { controlQueueName } from '../../adapters/rabbitmq/port.ts';
import { brokerContract } from './broker.contract.ts';

brokerContract('fake', () => {
  const broker = new FakeBroker({ clock: virtualClock(0) });
  return {
    broker,
    config: (label) => ({ brokerUrl: 'amqp://fake', exchangeName: `${label}.x`, queueName: label }),
    controlMessages: async (pod) => broker.control.get(controlQueueName(pod)) ?? [],
  };
});
