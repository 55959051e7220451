/**
 * An in-memory stand-in for CustomResourceClient (list, watch, get, status and finalizer patches, deletion with
 * finalizers), for the unit tier of the controllers. Deleting an object with finalizers sets its
 * deletionTimestamp; it goes when the last finalizer is removed, as on an API server.
 */
import type { CustomResource, WatchEventType } from '../../adapters/kubernetes/custom-resources.ts';

export class MemoryResources<Spec, Status> {
  private readonly objects = new Map<string, CustomResource<Spec, Status>>();
  private readonly watchers = new Set<(type: WatchEventType, cr: CustomResource<Spec, Status>) => void>();
  private rv = 0;
  private seq = 0;

  constructor(
    private readonly apiVersion: string,
    private readonly kind: string,
  ) {}

  /** Every change with its resourceVersion: a watch from version v first gets the changes after v, as on a server. */
  private readonly history: Array<{ type: WatchEventType; cr: CustomResource<Spec, Status> }> = [];

  private emit(type: WatchEventType, cr: CustomResource<Spec, Status>) {
    this.history.push({ type, cr: structuredClone(cr) });
    for (const w of this.watchers) w(type, structuredClone(cr));
  }
  private bump(cr: CustomResource<Spec, Status>) {
    cr.metadata.resourceVersion = String(++this.rv);
  }

  create(namespace: string, name: string, spec: Spec, labels?: Record<string, string>): CustomResource<Spec, Status> {
    const cr: CustomResource<Spec, Status> = {
      apiVersion: this.apiVersion,
      kind: this.kind,
      metadata: { namespace, name, uid: `uid-${++this.seq}`, generation: 1, resourceVersion: '', labels },
      spec,
    };
    this.bump(cr);
    this.objects.set(`${namespace}/${name}`, cr);
    this.emit('ADDED', cr);
    return structuredClone(cr);
  }

  patchSpec(namespace: string, name: string, spec: Partial<Spec>): void {
    const cr = this.objects.get(`${namespace}/${name}`)!;
    cr.spec = { ...cr.spec, ...spec };
    cr.metadata.generation = (cr.metadata.generation ?? 1) + 1;
    this.bump(cr);
    this.emit('MODIFIED', cr);
  }

  delete(namespace: string, name: string): void {
    const cr = this.objects.get(`${namespace}/${name}`);
    if (!cr) return;
    if (cr.metadata.finalizers?.length) {
      cr.metadata.deletionTimestamp = new Date().toISOString();
      this.bump(cr);
      this.emit('MODIFIED', cr);
      return;
    }
    this.objects.delete(`${namespace}/${name}`);
    this.bump(cr);
    this.emit('DELETED', cr);
  }

  peek(namespace: string, name: string): CustomResource<Spec, Status> | undefined {
    const cr = this.objects.get(`${namespace}/${name}`);
    return cr && structuredClone(cr);
  }

  async list() {
    return { items: [...this.objects.values()].map((o) => structuredClone(o)), resourceVersion: String(this.rv) };
  }

  async watch(o: {
    resourceVersion: string;
    onEvent: (type: WatchEventType, cr: CustomResource<Spec, Status>) => void;
    onDone: (err?: Error) => void;
  }) {
    for (const h of this.history) {
      if (Number(h.cr.metadata.resourceVersion) > Number(o.resourceVersion)) o.onEvent(h.type, structuredClone(h.cr));
    }
    this.watchers.add(o.onEvent);
    return { abort: () => void this.watchers.delete(o.onEvent) };
  }

  async get(namespace: string, name: string) {
    return this.peek(namespace, name) ?? null;
  }

  async patchStatus(namespace: string, name: string, status: Partial<Status>) {
    const cr = this.objects.get(`${namespace}/${name}`);
    if (!cr) return null;
    cr.status = { ...(cr.status ?? ({} as Status)), ...status };
    this.bump(cr);
    this.emit('MODIFIED', cr);
    return structuredClone(cr);
  }

  async setFinalizer(namespace: string, name: string, finalizer: string, present: boolean) {
    const cr = this.objects.get(`${namespace}/${name}`);
    if (!cr) return null;
    const current = cr.metadata.finalizers ?? [];
    if (current.includes(finalizer) === present) return structuredClone(cr);
    cr.metadata.finalizers = present ? [...current, finalizer] : current.filter((f) => f !== finalizer);
    this.bump(cr);
    if (cr.metadata.deletionTimestamp && cr.metadata.finalizers.length === 0) {
      this.objects.delete(`${namespace}/${name}`);
      this.emit('DELETED', cr);
      return null;
    }
    this.emit('MODIFIED', cr);
    return structuredClone(cr);
  }
}
