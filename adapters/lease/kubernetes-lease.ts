/**
 * A leader {@link Lease} on a `coordination.k8s.io/v1` Lease object, the way client-go's leaderelection does it:
 * every write is a compare-and-set on the object's resourceVersion; another holder's lease counts as expired only
 * when its record has not changed for `leaseDurationSeconds` as observed on this process's own monotonic clock
 * (no trust in clock agreement between nodes); a holder that cannot renew within the duration reports loss.
 */
import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound, toKubernetesError } from '../kubernetes/api-errors.ts';
import type { Lease } from './port.ts';

export interface KubernetesLeaseOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  /** This process's identity (the pod name plus a per-process suffix). */
  holder: string;
  durationMs: number;
  logger: Logger;
  /** Monotonic milliseconds (tests pass a virtual clock). */
  monotonic?: () => number;
  /** Wall clock for the record's acquireTime/renewTime fields. */
  now?: () => number;
}

/** A lease that can also be closed (stops its expiry timer without releasing). */
export interface KubernetesLease extends Lease {
  close(): void;
}

/**
 * @example
 * ```ts
 * const lease = kubernetesLease({ kubeConfig, namespace: 'ms2m-system', name: 'ms2m-operator', holder: pod,
 *   durationMs: 15000, logger });
 * if (await lease.acquire()) setInterval(() => void lease.renew(), 5000);
 * lease.onLost(() => hosts.stopAll());
 * ```
 */
export function kubernetesLease(o: KubernetesLeaseOptions): KubernetesLease {
  const api = o.kubeConfig.makeApiClient(CoordinationV1Api);
  const monotonic = o.monotonic ?? (() => performance.now());
  const now = o.now ?? Date.now;
  const listeners = new Set<() => void>();
  const durationSeconds = Math.max(1, Math.ceil(o.durationMs / 1000));
  /** The last record seen and when (monotonic) it was first seen in that form. */
  let observed: { resourceVersion: string; holder?: string; at: number } | undefined;
  let held = false;
  let expiry: NodeJS.Timeout | undefined;

  const lost = (why: string) => {
    if (!held) return;
    held = false;
    if (expiry) clearTimeout(expiry);
    expiry = undefined;
    o.logger.warn({ lease: `${o.namespace}/${o.name}`, holder: o.holder, why }, 'Lost the leader lease');
    for (const l of [...listeners]) l();
  };
  const armExpiry = () => {
    if (expiry) clearTimeout(expiry);
    expiry = setTimeout(() => lost('not renewed within the lease duration'), o.durationMs);
    expiry.unref?.();
  };
  const observe = (lease: V1Lease) => {
    const rv = lease.metadata?.resourceVersion ?? '';
    if (observed?.resourceVersion !== rv)
      observed = { resourceVersion: rv, holder: lease.spec?.holderIdentity ?? undefined, at: monotonic() };
  };
  const record = (lease: V1Lease | undefined, transitions: number): V1Lease => {
    const at = new V1MicroTime(now());
    const taking = lease?.spec?.holderIdentity !== o.holder;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...(lease?.metadata ?? {}), namespace: o.namespace, name: o.name },
      spec: {
        holderIdentity: o.holder,
        leaseDurationSeconds: durationSeconds,
        acquireTime: taking ? at : lease?.spec?.acquireTime,
        renewTime: at,
        leaseTransitions: transitions,
      },
    };
  };
  const read = async (): Promise<V1Lease | null> => {
    try {
      return await api.readNamespacedLease({ namespace: o.namespace, name: o.name });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toKubernetesError(err, `Get Lease ${o.namespace}/${o.name}`);
    }
  };

  /** One compare-and-set attempt; true when this process holds the lease afterwards. */
  const tryWrite = async (): Promise<boolean> => {
    const current = await read();
    if (!current) {
      try {
        observe(await api.createNamespacedLease({ namespace: o.namespace, body: record(undefined, 0) }));
        return true;
      } catch (err) {
        if (isConflict(err)) return false; // another process created it first
        throw toKubernetesError(err, `Create Lease ${o.namespace}/${o.name}`);
      }
    }
    observe(current);
    const holder = current.spec?.holderIdentity;
    const mine = holder === o.holder;
    const expired = !holder || (observed !== undefined && monotonic() - observed.at >= o.durationMs);
    if (!mine && !expired) return false;
    const transitions = (current.spec?.leaseTransitions ?? 0) + (mine ? 0 : 1);
    try {
      observe(
        await api.replaceNamespacedLease({ namespace: o.namespace, name: o.name, body: record(current, transitions) }),
      );
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // resourceVersion moved: someone else wrote first
      throw toKubernetesError(err, `Update Lease ${o.namespace}/${o.name}`);
    }
  };

  return {
    holder: o.holder,
    async acquire() {
      const ok = await tryWrite();
      if (ok) {
        if (!held) o.logger.info({ lease: `${o.namespace}/${o.name}`, holder: o.holder }, 'Acquired the leader lease');
        held = true;
        armExpiry();
      } else if (held) lost('another holder took the lease');
      return ok;
    },
    async renew() {
      if (!held) return false;
      let ok: boolean;
      try {
        ok = await tryWrite();
      } catch (err) {
        // the API server is unreachable: keep the lease until the expiry timer says otherwise
        o.logger.warn({ lease: `${o.namespace}/${o.name}`, err: (err as Error).message }, 'Could not renew the lease');
        return held;
      }
      if (ok) armExpiry();
      else lost('another holder took the lease');
      return ok;
    },
    async release() {
      if (!held) return;
      held = false;
      if (expiry) clearTimeout(expiry);
      const current = await read();
      if (current?.spec?.holderIdentity !== o.holder) return;
      const body = record(current, current.spec?.leaseTransitions ?? 0);
      // an empty holder with a 1 s duration lets the next candidate take over at once (client-go does the same)
      if (body.spec) Object.assign(body.spec, { holderIdentity: undefined, leaseDurationSeconds: 1 });
      try {
        await api.replaceNamespacedLease({ namespace: o.namespace, name: o.name, body });
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err))
          throw toKubernetesError(err, `Release Lease ${o.namespace}/${o.name}`);
      }
    },
    onLost(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      if (expiry) clearTimeout(expiry);
      expiry = undefined;
    },
  };
}
