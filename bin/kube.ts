/**
 * The Kubernetes side of the CLI: `--kubeconfig`, `--context`, `-n`, the StatefulMigration API (get, list,
 * create, patch) and its errors said for a person at a terminal (which object, which server, what to do).
 */
import { existsSync } from 'node:fs';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { StatefulMigrationSpecInput, StatefulMigrationStatusWire } from '../actors/crd/stateful-migration.ts';
import { statefulMigrationResource as R } from '../actors/crd/stateful-migration.ts';
import { ErrorCode, Ms2mError, NotFoundError } from '../adapters/errors.ts';
import { toKubernetesError } from '../adapters/kubernetes/api-errors.ts';
import type { KubeOptions } from './kube-options.ts';

export { addKubeOptions, type KubeOptions } from './kube-options.ts';

/** A StatefulMigration as the API server returns it. */
export interface StatefulMigrationObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    creationTimestamp?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  spec: StatefulMigrationSpecInput;
  status?: StatefulMigrationStatusWire;
}

/** The API of StatefulMigrations in one namespace, through one kubeconfig. */
export class Migrations {
  readonly namespace: string;
  readonly server: string;
  private readonly api: CustomObjectsApi;
  readonly core: CoreV1Api;

  constructor(
    readonly kc: KubeConfig,
    namespace: string,
  ) {
    this.namespace = namespace;
    this.server = kc.getCurrentCluster()?.server ?? '(no server)';
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  private where(name: string) {
    return { group: R.group, version: R.version, plural: R.plural, namespace: this.namespace, name };
  }

  /** The resource, or a NotFoundError that says how to list the existing ones. */
  async get(name: string): Promise<StatefulMigrationObject> {
    try {
      return (await this.api.getNamespacedCustomObject(this.where(name))) as StatefulMigrationObject;
    } catch (err) {
      throw this.failure(err, `Get StatefulMigration ${this.namespace}/${name}`, name);
    }
  }

  /** Every StatefulMigration of the namespace (or of all namespaces), oldest first. */
  async list(allNamespaces = false): Promise<StatefulMigrationObject[]> {
    const what = allNamespaces ? 'List StatefulMigrations' : `List StatefulMigrations in ${this.namespace}`;
    try {
      const res = (
        allNamespaces
          ? await this.api.listClusterCustomObject({ group: R.group, version: R.version, plural: R.plural })
          : await this.api.listNamespacedCustomObject({
              group: R.group,
              version: R.version,
              plural: R.plural,
              namespace: this.namespace,
            })
      ) as { items: StatefulMigrationObject[] };
      return res.items.sort((a, b) =>
        (a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? -1 : 1,
      );
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  /** Creates it named `name`, or, with `{ generateName }`, a name the API server picks from that prefix. */
  async create(
    name: string | { generateName: string },
    spec: StatefulMigrationSpecInput,
  ): Promise<StatefulMigrationObject> {
    const metadata =
      typeof name === 'string' ? { name, namespace: this.namespace } : { ...name, namespace: this.namespace };
    const label = typeof name === 'string' ? name : `${name.generateName}…`;
    try {
      return (await this.api.createNamespacedCustomObject({
        group: R.group,
        version: R.version,
        plural: R.plural,
        namespace: this.namespace,
        body: {
          apiVersion: `${R.group}/${R.version}`,
          kind: R.kind,
          metadata,
          spec,
        },
      })) as StatefulMigrationObject;
    } catch (err) {
      throw this.failure(err, `Create StatefulMigration ${this.namespace}/${label}`);
    }
  }

  /** A JSON merge patch of the spec (e.g. `{ cancel: true }`). */
  async patchSpec(name: string, spec: Partial<StatefulMigrationSpecInput>): Promise<StatefulMigrationObject> {
    try {
      return (await this.api.patchNamespacedCustomObject(
        { ...this.where(name), body: { spec } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )) as StatefulMigrationObject;
    } catch (err) {
      throw this.failure(err, `Patch StatefulMigration ${this.namespace}/${name}`, name);
    }
  }

  /** An API error as one line: the object, the server, and what to do. */
  failure(err: unknown, action: string, name?: string): Ms2mError {
    if (err instanceof ApiException && err.code === 404 && name !== undefined) {
      return new NotFoundError(
        'StatefulMigration',
        `${this.namespace}/${name}`,
        `no such resource on ${this.server} (ms2m status -n ${this.namespace} lists them; is the namespace right?)`,
        err,
      );
    }
    if (err instanceof ApiException && err.code === 404) {
      return new Ms2mError(
        ErrorCode.NOT_FOUND,
        `${action}: the API server ${this.server} does not know StatefulMigrations: install the CRD (kubectl apply -f crds/statefulmigration.crd.yaml)`,
        { cause: err },
      );
    }
    if (err instanceof ApiException && (err.code === 401 || err.code === 403)) {
      const m = toKubernetesError(err, action).message.replace(/\. Grant it in the operator's roles.*$/, '');
      return new Ms2mError(
        ErrorCode.FORBIDDEN,
        `${m}: your kubeconfig's user needs RBAC on statefulmigrations.${R.group}`,
        { cause: err },
      );
    }
    const e = toKubernetesError(err, action);
    if (err instanceof ApiException) return e;
    return new Ms2mError(
      e.code,
      `${e.message} (API server ${this.server}: check --kubeconfig, --context or KUBECONFIG)`,
      { cause: err, transient: e.transient },
    );
  }
}

/**
 * Loads the kubeconfig `o` names and picks the namespace: `-n`, else the context's, else `default`.
 *
 * @example
 * ```ts
 * const m = connect({ namespace: 'default' });
 * const all = await m.list();
 * ```
 */
export function connect(o: KubeOptions): Migrations {
  const kc = new KubeConfig();
  if (o.kubeconfig !== undefined) {
    if (!existsSync(o.kubeconfig))
      throw new NotFoundError('Kubeconfig', o.kubeconfig, 'check the path given to --kubeconfig');
    kc.loadFromFile(o.kubeconfig);
  } else {
    const env = process.env.KUBECONFIG;
    const files = env ? env.split(':').filter(Boolean) : [];
    if (files.length > 0 && !files.some((f) => existsSync(f)))
      throw new NotFoundError(
        'Kubeconfig',
        env as string,
        'KUBECONFIG names no existing file: fix it or use --kubeconfig',
      );
    kc.loadFromDefault();
  }
  if (o.context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === o.context))
      throw new NotFoundError(
        'Kubeconfig context',
        o.context,
        `known: ${kc
          .getContexts()
          .map((c) => c.name)
          .join(', ')}`,
      );
    kc.setCurrentContext(o.context);
  }
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return new Migrations(kc, o.namespace ?? ctx?.namespace ?? 'default');
}

/**
 * The namespace the reading commands use without an API server: `-n`, else the namespace of the kubeconfig's
 * (or `--context`'s) context, else `default`. An unreadable kubeconfig is not an error here: nothing is sent.
 */
export function namespaceOf(o: KubeOptions): string {
  if (o.namespace !== undefined) return o.namespace;
  try {
    const kc = new KubeConfig();
    if (o.kubeconfig !== undefined) kc.loadFromFile(o.kubeconfig);
    else kc.loadFromDefault();
    return kc.getContextObject(o.context ?? kc.getCurrentContext())?.namespace ?? 'default';
  } catch {
    return 'default';
  }
}
