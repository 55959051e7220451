/**
 * KubeClaims.provisioningFailure (the Events read of a VolumeResize waiting for its temp claim) over a stubbed
 * API: the latest ProvisioningFailed message by time, null without one, and null (logged) when the operator's
 * role may not list Events, so a missing permission never fails a resize.
 */
import { ApiException, type CoreV1Event } from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../adapters/errors.ts';
import { KubeClaims } from '../../adapters/volumes/kube-claims.ts';
import type { KubeVolumeApi } from '../../adapters/volumes/kube-volume-api.ts';

function claims(list: (selector: string) => Promise<{ items: CoreV1Event[] }>, logs: unknown[] = []) {
  const log = pino({ level: 'warn' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const api = {
    core: { listNamespacedEvent: (req: { fieldSelector: string }) => list(req.fieldSelector) },
    log,
  } as unknown as KubeVolumeApi;
  return new KubeClaims(api);
}

const event = (message: string, at: string): CoreV1Event =>
  ({ message, lastTimestamp: new Date(at), involvedObject: {}, metadata: {} }) as CoreV1Event;

describe('provisioningFailure', () => {
  it("reads the latest ProvisioningFailed Event of the claim's uid", async () => {
    let selector = '';
    const c = claims(async (s) => {
      selector = s;
      return { items: [event('older', '2026-01-01T00:00:00Z'), event('newest', '2026-01-01T00:01:00Z')] };
    });
    expect(await c.provisioningFailure('ns', 'data-db-0-new', 'uid-1')).toBe('newest');
    expect(selector).toBe('involvedObject.uid=uid-1,reason=ProvisioningFailed');
  });

  it('is null without such an Event', async () => {
    expect(await claims(async () => ({ items: [] })).provisioningFailure('ns', 'c', 'u')).toBeNull();
  });

  it('is null, with a warning, when the role may not list Events; other failures are thrown typed', async () => {
    const logs: { msg?: string; claim?: string }[] = [];
    const forbidden = claims(async () => {
      throw new ApiException(403, 'Forbidden', { message: 'events is forbidden', reason: 'Forbidden' }, {});
    }, logs);
    expect(await forbidden.provisioningFailure('ns', 'c', 'u')).toBeNull();
    expect(logs).toMatchObject([{ msg: 'Could not read the Events of a claim', claim: 'ns/c' }]);
    const down = claims(async () => {
      throw new ApiException(503, 'Unavailable', { message: 'etcd down' }, {});
    });
    await expect(down.provisioningFailure('ns', 'c', 'u')).rejects.toBeInstanceOf(UnavailableError);
  });
});
