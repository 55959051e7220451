/**
 * A typed client for one namespaced custom resource (StatefulMigration, VolumeResize): list, watch from a
 * resourceVersion, read, status merge-patch with a field manager, finalizers with compare-and-set. Used by the
 * controller; the CR JSON shapes are the wire types of `actors/crd/`.
 */
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node';
import { ErrorCode, Ms2mError } from '../errors.ts';
import { httpStatus, isConflict, isNotFound, toKubernetesError } from './api-errors.ts';
import { FIELD_MANAGER } from './kubernetes.ts';

export interface ResourceNames {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export interface CustomResource<Spec = unknown, Status = unknown> {
  apiVersion: string;
  kind: string;
  metadata: {
    namespace: string;
    name: string;
    uid: string;
    generation?: number;
    resourceVersion: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
  };
  spec: Spec;
  status?: Status;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

/** The watch's resourceVersion is too old (HTTP 410 Gone): list again and watch from the new version. */
export class WatchExpiredError extends Ms2mError {
  constructor(what: string) {
    super('WATCH_EXPIRED', `Watch of ${what} expired (410 Gone): relisting`, { transient: true });
  }
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * @example
 * ```ts
 * const smigs = new CustomResourceClient(kc, { group: 'migration.ms2m.io', version: 'v1alpha1',
 *   plural: 'statefulmigrations', kind: 'StatefulMigration' });
 * const { items, resourceVersion } = await smigs.list();
 * const stop = await smigs.watch({ resourceVersion, onEvent: (type, cr) => queue.add(key(cr)),
 *   onDone: (err) => restartLater(err) });
 * ```
 */
export class CustomResourceClient<Spec = unknown, Status = unknown> {
  private readonly api: CustomObjectsApi;
  private readonly watcher: Watch;

  constructor(
    kubeConfig: KubeConfig,
    readonly names: ResourceNames,
    /** Watch and list one namespace; unset: every namespace. */
    readonly namespace?: string,
  ) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
    this.watcher = new Watch(kubeConfig);
  }

  private what(namespace?: string, name?: string): string {
    const scope = namespace ? `${namespace}/${name ?? '*'}` : '*';
    return `${this.names.kind} ${scope}`;
  }

  async list(): Promise<{ items: CustomResource<Spec, Status>[]; resourceVersion: string }> {
    const { group, version, plural } = this.names;
    try {
      const res = (
        this.namespace
          ? await this.api.listNamespacedCustomObject({ group, version, plural, namespace: this.namespace })
          : await this.api.listClusterCustomObject({ group, version, plural })
      ) as { items: CustomResource<Spec, Status>[]; metadata: { resourceVersion: string } };
      return { items: res.items, resourceVersion: res.metadata.resourceVersion };
    } catch (err) {
      throw toKubernetesError(err, `List ${this.what(this.namespace)}`);
    }
  }

  /**
   * Streams changes after `resourceVersion` until `abort()` or an error; `onDone` is called exactly once
   * (undefined when the server closed the stream normally, WatchExpiredError on 410, else a typed error).
   */
  async watch(o: {
    resourceVersion: string;
    onEvent: (type: WatchEventType, cr: CustomResource<Spec, Status>) => void;
    onDone: (err?: Error) => void;
  }): Promise<{ abort(): void }> {
    const { group, version, plural } = this.names;
    const path = this.namespace
      ? `/apis/${group}/${version}/namespaces/${this.namespace}/${plural}`
      : `/apis/${group}/${version}/${plural}`;
    let finished = false;
    const done = (err?: Error) => {
      if (finished) return;
      finished = true;
      o.onDone(err);
    };
    const controller = await this.watcher.watch(
      path,
      { resourceVersion: o.resourceVersion, allowWatchBookmarks: true },
      (type, obj: CustomResource<Spec, Status> & { code?: number; kind?: string }) => {
        if (type === 'ERROR') {
          done(
            obj.code === 410
              ? new WatchExpiredError(this.what(this.namespace))
              : new Ms2mError(
                  ErrorCode.WATCH_FAILED,
                  `Watch of ${this.what(this.namespace)} failed: ${JSON.stringify(obj)}`,
                  {
                    transient: true,
                  },
                ),
          );
          return;
        }
        o.onEvent(type as WatchEventType, obj);
      },
      (err: unknown) => {
        if (!err || (err as Error).name === 'AbortError') return done();
        if (httpStatus(err) === 410) return done(new WatchExpiredError(this.what(this.namespace)));
        done(toKubernetesError(err, `Watch ${this.what(this.namespace)}`));
      },
    );
    return {
      abort: () => {
        finished = true;
        controller.abort();
      },
    };
  }

  async get(namespace: string, name: string): Promise<CustomResource<Spec, Status> | null> {
    const { group, version, plural } = this.names;
    try {
      return (await this.api.getNamespacedCustomObject({
        group,
        version,
        plural,
        namespace,
        name,
      })) as CustomResource<Spec, Status>;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toKubernetesError(err, `Get ${this.what(namespace, name)}`);
    }
  }

  /** Merge-patches `status` (the status subresource) as field manager `ms2m-operator`. Null when the CR is gone. */
  async patchStatus(
    namespace: string,
    name: string,
    status: Partial<Status>,
  ): Promise<CustomResource<Spec, Status> | null> {
    const { group, version, plural } = this.names;
    try {
      return (await this.api.patchNamespacedCustomObjectStatus(
        { group, version, plural, namespace, name, body: { status }, fieldManager: FIELD_MANAGER },
        merge,
      )) as CustomResource<Spec, Status>;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toKubernetesError(err, `Patch status of ${this.what(namespace, name)}`);
    }
  }

  /**
   * Adds or removes a finalizer with a compare-and-set on resourceVersion (a concurrent change re-reads and
   * retries, up to `attempts`). `known` (e.g. from a watch) saves the first read; a stale one costs a retry.
   * Returns the updated object, or null when the CR is gone.
   */
  async setFinalizer(
    namespace: string,
    name: string,
    finalizer: string,
    present: boolean,
    known?: CustomResource<Spec, Status>,
    attempts = 5,
  ): Promise<CustomResource<Spec, Status> | null> {
    const { group, version, plural } = this.names;
    for (let attempt = 1; ; attempt++) {
      const cr = attempt === 1 && known ? known : await this.get(namespace, name);
      if (!cr) return null;
      const current = cr.metadata.finalizers ?? [];
      if (current.includes(finalizer) === present) return cr;
      const finalizers = present ? [...current, finalizer] : current.filter((f) => f !== finalizer);
      try {
        return (await this.api.patchNamespacedCustomObject(
          {
            group,
            version,
            plural,
            namespace,
            name,
            // resourceVersion in a merge patch makes it a compare-and-set: 409 when the object moved on
            body: { metadata: { finalizers, resourceVersion: cr.metadata.resourceVersion } },
            fieldManager: FIELD_MANAGER,
          },
          merge,
        )) as CustomResource<Spec, Status>;
      } catch (err) {
        if (isNotFound(err)) return null;
        if (isConflict(err) && attempt < attempts) continue;
        throw toKubernetesError(
          err,
          `${present ? 'Add' : 'Remove'} finalizer ${finalizer} on ${this.what(namespace, name)}`,
        );
      }
    }
  }
}
