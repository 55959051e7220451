/**
 * VolumeResizes on the API server for `ms2m status`: get and list (read-only), their table rows, and errors said
 * for a person at a terminal (which object, which server, what to do).
 */
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import type { VolumeResizeSpecInput, VolumeResizeStatusWire } from '../actors/crd/volume-resize.ts';
import { volumeResizeResource as R } from '../actors/crd/volume-resize.ts';
import { ErrorCode, Ms2mError, NotFoundError } from '../adapters/errors.ts';
import { toKubernetesError } from '../adapters/kubernetes/api-errors.ts';
import type { Migrations, StatefulMigrationObject } from './kube.ts';

/** A VolumeResize as the API server returns it. */
export interface VolumeResizeObject extends Omit<StatefulMigrationObject, 'spec' | 'status'> {
  spec: VolumeResizeSpecInput;
  status?: VolumeResizeStatusWire;
}

const GVP = { group: R.group, version: R.version, plural: R.plural };
const LIST_RETRY_MS = 5000;

/** The VolumeResize API through the same kubeconfig and namespace as `m`. */
export class VolumeResizes {
  private readonly api: CustomObjectsApi;

  constructor(private readonly m: Migrations) {
    this.api = m.kc.makeApiClient(CustomObjectsApi);
  }

  /** The resource, or a NotFoundError that says how to list the existing ones. */
  async get(name: string): Promise<VolumeResizeObject> {
    try {
      return (await this.api.getNamespacedCustomObject({
        ...GVP,
        namespace: this.m.namespace,
        name,
      })) as VolumeResizeObject;
    } catch (err) {
      throw this.failure(err, `Get VolumeResize ${this.m.namespace}/${name}`, name);
    }
  }

  /**
   * Every VolumeResize of the namespace (or all namespaces), oldest first; `undefined` when the API server does
   * not know the kind and `optional` is set (listing both kinds on a server with only the migration CRD).
   */
  async list(allNamespaces: boolean, optional: boolean): Promise<VolumeResizeObject[] | undefined> {
    // a transient refusal (429 while the API server (re)initialises the CRD's storage, 5xx) is tried again for
    // up to LIST_RETRY_MS; the error of the last attempt otherwise
    const deadline = Date.now() + LIST_RETRY_MS;
    for (;;) {
      try {
        return await this.listOnce(allNamespaces, optional);
      } catch (err) {
        if (!(err instanceof Ms2mError && err.transient) || Date.now() >= deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private async listOnce(allNamespaces: boolean, optional: boolean): Promise<VolumeResizeObject[] | undefined> {
    const what = allNamespaces ? 'List VolumeResizes' : `List VolumeResizes in ${this.m.namespace}`;
    try {
      const res = (
        allNamespaces
          ? await this.api.listClusterCustomObject(GVP)
          : await this.api.listNamespacedCustomObject({ ...GVP, namespace: this.m.namespace })
      ) as { items: VolumeResizeObject[] };
      return res.items.sort((a, b) =>
        (a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? -1 : 1,
      );
    } catch (err) {
      if (optional && err instanceof ApiException && err.code === 404) return undefined;
      throw this.failure(err, what);
    }
  }

  private failure(err: unknown, action: string, name?: string): Ms2mError {
    const server = this.m.server;
    if (err instanceof ApiException && err.code === 404 && name !== undefined)
      return new NotFoundError(
        'VolumeResize',
        `${this.m.namespace}/${name}`,
        `no such resource on ${server} (ms2m status --kind VolumeResize -n ${this.m.namespace} lists them; is the namespace right?)`,
        err,
      );
    if (err instanceof ApiException && err.code === 404)
      return new Ms2mError(
        ErrorCode.NOT_FOUND,
        `${action}: the API server ${server} does not know VolumeResizes: install the CRD (kubectl apply -f crds/volumeresize.crd.yaml)`,
        { cause: err },
      );
    if (err instanceof ApiException && (err.code === 401 || err.code === 403)) {
      const m = toKubernetesError(err, action).message.replace(/\. Grant it in the operator's roles.*$/, '');
      return new Ms2mError(ErrorCode.FORBIDDEN, `${m}: your kubeconfig's user needs RBAC on volumeresizes.${R.group}`, {
        cause: err,
      });
    }
    return this.m.failure(err, action);
  }
}

/** `1.0 MiB/4.0 MiB` summed over the volume statuses, or '' before any copy. */
export function bytesText(s: VolumeResizeStatusWire | undefined, mib: (n: number) => string): string {
  const v = s?.volumeStatuses ?? [];
  if (v.length === 0) return '';
  const sum = (f: (x: (typeof v)[number]) => number) => v.reduce((a, x) => a + f(x), 0);
  return `${mib(sum((x) => x.bytesCopied))}/${mib(sum((x) => x.bytesTotal))}`;
}

/** The table of VolumeResizes: the CRD's printer columns (and the wide ones), kubectl's layout. */
export function volumeResizeRows(
  items: VolumeResizeObject[],
  wide: boolean,
  allNamespaces: boolean,
  age: (from: string | undefined) => string,
): string[][] {
  const head = ['NAME', 'PHASE', 'STATEFULSET', 'REPLICA', 'VOLUME', 'AGE'];
  if (allNamespaces) head.unshift('NAMESPACE');
  if (wide) head.push('DRYRUN', 'COPIED', 'MESSAGE');
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const rows = items.map((r) => {
    const s = r.status ?? {};
    const row = [
      r.metadata.name,
      s.phase ?? 'Pending',
      r.spec.statefulSetName,
      s.currentReplica === undefined ? '-' : String(s.currentReplica),
      s.currentVolume ?? '-',
      age(r.metadata.creationTimestamp),
    ];
    if (allNamespaces) row.unshift(r.metadata.namespace);
    if (wide) row.push(String(r.spec.dryRun ?? false), bytesText(s, mib) || '-', s.message ?? '');
    return row;
  });
  return [head, ...rows];
}
