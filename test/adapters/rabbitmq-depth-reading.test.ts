import { describe, expect, it } from 'vitest';
import { DepthReading } from '../../adapters/rabbitmq/depth-reading.ts';
import type { QueueSample } from '../../adapters/rabbitmq/management.ts';

const sample = (ready: number, unacked: number, takenAt: number): QueueSample => ({
  ready,
  unacked,
  consumerRate: 12.5,
  producerRate: 3,
  takenAt,
});

describe('depth reading (AMQP ready + lagging management unacked)', () => {
  it('adds AMQP ready and management unacked, with the sampled rates', () => {
    const r = new DepthReading(5000);
    expect(r.next(6, sample(9, 4, 1000), 1000)).toEqual({
      depth: 10,
      ready: 6,
      unacked: 4,
      consumerRate: 12.5,
      producerRate: 3,
      settled: true,
    });
  });

  it('never settles a 0 on a management sample older than one lag window after ready reached 0', () => {
    const r = new DepthReading(5000);
    expect(r.next(3, sample(3, 0, 0), 0).settled).toBe(true);
    // ready drops to 0 at t=1000 (the consumer may hold the messages unacked; the stale sample cannot show it)
    expect(r.next(0, sample(0, 0, 1000), 1000)).toMatchObject({ depth: 0, settled: false });
    expect(r.next(0, sample(0, 0, 5999), 5999)).toMatchObject({ depth: 0, settled: false });
    expect(r.next(0, sample(0, 0, 6000), 6000)).toMatchObject({ depth: 0, settled: true });
  });

  it('restarts the window when ready rises again, and without management never settles', () => {
    const r = new DepthReading(1000);
    r.next(0, sample(0, 0, 0), 0);
    r.next(2, sample(0, 0, 500), 500);
    expect(r.next(0, sample(0, 0, 1200), 1200).settled).toBe(false);
    expect(r.next(0, sample(0, 0, 2200), 2200).settled).toBe(true);
    expect(r.next(0, null, 9000)).toMatchObject({ depth: 0, settled: false });
    expect(r.next(0, sample(1, 0, 9500), 9500).settled).toBe(false);
  });
});
