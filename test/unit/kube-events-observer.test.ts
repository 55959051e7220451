/**
 * kubeEventsObserver, the one loop behind the operator's Kubernetes Events and metrics for every chart: replayed
 * history is neither counted nor recorded, and a batch the observer loop retries after a transient failure to
 * record an Event counts its metrics once (the VolumeResize observer used to count them again).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { kubeEventsObserver } from '../../actors/controller/kube-events.ts';
import type { Committed } from '../../actors/observers.ts';
import { UnavailableError } from '../../adapters/errors.ts';
import { ForbiddenError } from '../../adapters/kubernetes/api-errors.ts';
import type { Cluster, ObjectRef } from '../../adapters/kubernetes/port.ts';

const ref: ObjectRef = { apiVersion: 'x/v1', kind: 'Thing', namespace: 'ns', name: 't', uid: 'u' };

const committed = (seq: number, replayed = false): Committed<number> => ({
  kind: 'Thing',
  id: 'ns/t/u',
  event: {
    kind: 'Thing',
    id: 'ns/t/u',
    seq,
    type: `E${seq}`,
    at: new Date(seq).toISOString(),
    machineVersion: 1,
    data: {},
  },
  snapshot: seq,
  replayed,
});

function setup(failures: Error[]) {
  const recorded: string[] = [];
  const counted: string[] = [];
  const cluster = {
    async recordEvent(_ref: ObjectRef, _type: string, reason: string) {
      const f = failures.shift();
      if (f) throw f;
      recorded.push(reason);
    },
  } as unknown as Cluster;
  const observer = kubeEventsObserver<number>({
    name: 'events',
    cluster,
    ref,
    logger: pino({ level: 'silent' }),
    logField: 'thing',
    count: (before, c) => counted.push(`${before}->${c.snapshot}`),
    eventsFor: (before, c) => [{ type: 'Normal', reason: `R${before}-${c.snapshot}`, message: 'm' }],
  });
  return { observer, recorded, counted };
}

describe('kubeEventsObserver', () => {
  it('skips replayed history and counts and records each committed transition from the one before it', async () => {
    const { observer, recorded, counted } = setup([]);
    await observer.observe([committed(1, true), committed(2, true)]);
    expect(counted).toEqual([]);
    await observer.observe([committed(3), committed(4)]);
    expect(counted).toEqual(['2->3', '3->4']);
    expect(recorded).toEqual(['R2-3', 'R3-4']);
    // a batch seen again (the loop's retry) changes nothing
    await observer.observe([committed(3), committed(4)]);
    expect(counted).toEqual(['2->3', '3->4']);
  });

  it('a transient failure to record is thrown for the retry, which records the Event without counting again', async () => {
    const { observer, recorded, counted } = setup([new UnavailableError('API server', 'connection refused')]);
    await observer.observe([committed(1)]);
    await expect(observer.observe([committed(2)])).rejects.toBeInstanceOf(UnavailableError);
    expect(counted).toEqual(['1->2']);
    expect(recorded).toEqual([]);
    await observer.observe([committed(2)]);
    expect(counted).toEqual(['1->2']);
    expect(recorded).toEqual(['R1-2']);
  });

  it('an Event refused for good is skipped, not retried', async () => {
    const { observer, recorded, counted } = setup([new ForbiddenError('Create Event ns/t', 'events is forbidden')]);
    await observer.observe([committed(1)]);
    await observer.observe([committed(2), committed(3)]);
    expect(counted).toEqual(['1->2', '2->3']);
    expect(recorded).toEqual(['R2-3']);
  });
});
