import type { Clock } from '../clock/port.ts';
import { EffectJournal, type FaultPlan, faulty, noFaults } from '../effect-journal.ts';
import { NotFoundError } from '../errors.ts';
import type { Cluster, NewPod, NodeInfo, ObjectRef, OwnerInfo, PodInfo } from './port.ts';
import { POD_DELETION_COST } from './port.ts';

export interface FakeClusterOptions {
  clock: Clock;
  faults?: FaultPlan;
  journal?: EffectJournal;
  nodes?: string[];
  /** Time a created pod takes to become Running+Ready. */
  podStartupMs?: number;
  /** Time a deleted pod takes to disappear (graceful termination). */
  podTerminationMs?: number;
  /** Pod names whose start fails (they stay Pending with ImagePullBackOff). */
  failingPods?: Set<string>;
}

interface FakeStatefulSet {
  namespace: string;
  name: string;
  replicas: number;
  template: Omit<PodInfo, 'name' | 'uid' | 'nodeName'>;
}

/**
 * An in-memory cluster: pods with a scripted lifecycle (Pending -> Running+Ready after podStartupMs), a
 * StatefulSet controller (scale down deletes ordinals, scale up adopts or recreates them) and a ReplicaSet
 * controller (adopts orphans matching its labels, removes the surplus pod with the lowest deletion cost).
 * Every mutation goes through the fault plan and the effect journal.
 *
 * @example
 * ```ts
 * const cluster = new FakeCluster({ clock: virtualClock(), nodes: ['n1', 'n2'] });
 * cluster.addPod({ namespace: 'default', name: 'app-0', nodeName: 'n1', ... });
 * ```
 */
export class FakeCluster implements Cluster {
  readonly journal: EffectJournal;
  private readonly podMap = new Map<string, PodInfo>();
  /** Pending lifecycle changes by pod uid, applied lazily when time has come (no timers: survives a restart). */
  private readonly lifecycle = new Map<string, { startAt?: number; goneAt?: number }>();
  readonly statefulSets = new Map<string, FakeStatefulSet>();
  readonly replicaSets = new Map<
    string,
    { namespace: string; name: string; replicas: number; selector: Record<string, string>; deployment?: string }
  >();
  readonly events: Array<{ ref: ObjectRef; type: string; reason: string; message: string }> = [];
  readonly deploymentAffinity = new Map<string, string>();
  /** Deletes refused by their UID precondition (the API server's 409 Conflict): a successor of the same name. */
  readonly preconditionConflicts: Array<{ namespace: string; name: string; expectedUid: string; actualUid: string }> =
    [];
  private readonly nodes: Set<string>;
  private readonly faults: FaultPlan;
  private uid = 0;

  constructor(private readonly opts: FakeClusterOptions) {
    this.journal = opts.journal ?? new EffectJournal(opts.clock);
    this.faults = opts.faults ?? noFaults;
    this.nodes = new Set(opts.nodes ?? ['node-a', 'node-b']);
  }

  /** All pods, with lifecycle changes that are due applied. */
  get pods(): Map<string, PodInfo> {
    this.advance();
    return this.podMap;
  }

  private advance(): void {
    const now = this.opts.clock.now();
    for (const [key, pod] of this.podMap) {
      const due = this.lifecycle.get(pod.uid);
      if (!due) continue;
      if (due.goneAt !== undefined && due.goneAt <= now) {
        this.podMap.delete(key);
        this.lifecycle.delete(pod.uid);
      } else if (due.startAt !== undefined && due.startAt <= now && !pod.deleting) {
        if (this.opts.failingPods?.has(pod.name)) pod.waitingReason = 'ImagePullBackOff';
        else Object.assign(pod, { phase: 'Running', ready: true });
        this.lifecycle.set(pod.uid, { ...due, startAt: undefined });
      }
    }
  }

  /** Everything this fake holds, as JSON (the demo keeps its world across a process kill). */
  toJSON() {
    return {
      pods: [...this.podMap.values()],
      lifecycle: [...this.lifecycle.entries()],
      statefulSets: [...this.statefulSets.values()],
      replicaSets: [...this.replicaSets.values()],
      deploymentAffinity: [...this.deploymentAffinity.entries()],
      uid: this.uid,
    };
  }

  /** Restores what toJSON() saved. */
  load(state: ReturnType<FakeCluster['toJSON']>): void {
    this.podMap.clear();
    for (const p of state.pods) this.podMap.set(this.k(p.namespace, p.name), p);
    this.lifecycle.clear();
    for (const [uid, due] of state.lifecycle) this.lifecycle.set(uid, due);
    for (const sts of state.statefulSets) this.statefulSets.set(this.k(sts.namespace, sts.name), sts);
    for (const rs of state.replicaSets) this.replicaSets.set(this.k(rs.namespace, rs.name), rs);
    for (const [k, v] of state.deploymentAffinity) this.deploymentAffinity.set(k, v);
    this.uid = state.uid;
  }

  private ctx() {
    return { clock: this.opts.clock, faults: this.faults, journal: this.journal };
  }
  private k(ns: string, name: string): string {
    return `${ns}/${name}`;
  }
  newUid(): string {
    return `uid-${++this.uid}`;
  }

  /** Seeds a running pod (test setup; not an effect). */
  addPod(pod: Omit<PodInfo, 'uid'> & { uid?: string }): PodInfo {
    const full: PodInfo = { ...pod, uid: pod.uid ?? this.newUid() };
    this.podMap.set(this.k(pod.namespace, pod.name), full);
    return full;
  }

  async getPod(namespace: string, name: string): Promise<PodInfo | null> {
    const pod = this.pods.get(this.k(namespace, name));
    return pod ? structuredClone(pod) : null;
  }

  async getNode(name: string): Promise<NodeInfo | null> {
    return this.nodes.has(name) ? { name, ready: true } : null;
  }

  async getOwners(namespace: string, pod: PodInfo): Promise<OwnerInfo> {
    const ref = pod.ownerReferences.find((r) => r.controller);
    if (!ref) return { kind: 'None' };
    if (ref.kind === 'StatefulSet') return { kind: 'StatefulSet', name: ref.name };
    if (ref.kind === 'ReplicaSet') {
      return {
        kind: 'ReplicaSet',
        name: ref.name,
        deploymentName: this.replicaSets.get(this.k(namespace, ref.name))?.deployment,
      };
    }
    return { kind: 'Other', name: ref.name };
  }

  async createPod(pod: NewPod, key: string): Promise<PodInfo> {
    return faulty(this.ctx(), 'createPod', key, this.k(pod.namespace, pod.name), () => {
      const existing = this.pods.get(this.k(pod.namespace, pod.name));
      if (existing) return { applied: false, value: structuredClone(existing) };
      const created: PodInfo = {
        namespace: pod.namespace,
        name: pod.name,
        uid: this.newUid(),
        nodeName: pod.nodeName,
        phase: 'Pending',
        ready: false,
        deleting: false,
        labels: { ...pod.labels },
        annotations: { ...(pod.annotations ?? {}) },
        containers: pod.containers.map((c) => ({ name: String(c.name), image: String(c.image), spec: c })),
        ownerReferences: pod.ownerReferences.map((r) => ({ ...r })),
        podSpec: pod.podSpec,
      };
      this.podMap.set(this.k(pod.namespace, pod.name), created);
      this.startLater(created);
      return { applied: true, value: structuredClone(created) };
    });
  }

  private startLater(pod: PodInfo): void {
    this.lifecycle.set(pod.uid, { startAt: this.opts.clock.now() + (this.opts.podStartupMs ?? 2000) });
  }

  private removeLater(namespace: string, name: string, uid: string): void {
    const pod = this.podMap.get(this.k(namespace, name));
    if (!pod || pod.deleting || pod.uid !== uid) return;
    pod.deleting = true;
    pod.ready = false;
    this.lifecycle.set(uid, { goneAt: this.opts.clock.now() + (this.opts.podTerminationMs ?? 1000) });
  }

  /** Enforces the UID precondition as the API server does: a pod with another UID is left alone. */
  async deletePod(namespace: string, name: string, key: string, precondition: { uid: string }): Promise<void> {
    await faulty(this.ctx(), 'deletePod', key, this.k(namespace, name), () => {
      const pod = this.pods.get(this.k(namespace, name));
      if (!pod || pod.deleting) return { applied: false, value: undefined };
      if (pod.uid !== precondition.uid) {
        this.preconditionConflicts.push({ namespace, name, expectedUid: precondition.uid, actualUid: pod.uid });
        return { applied: false, value: undefined };
      }
      this.removeLater(namespace, name, pod.uid);
      return { applied: true, value: undefined };
    });
  }

  async getStatefulSetReplicas(namespace: string, name: string): Promise<number | null> {
    return this.statefulSets.get(this.k(namespace, name))?.replicas ?? null;
  }

  async scaleStatefulSet(namespace: string, name: string, replicas: number, key: string): Promise<void> {
    await faulty(this.ctx(), 'scaleStatefulSet', key, `${this.k(namespace, name)}=${replicas}`, () => {
      const sts = this.statefulSets.get(this.k(namespace, name));
      if (!sts) throw new NotFoundError('StatefulSet', `${namespace}/${name}`, 'it owns the source pod');
      if (sts.replicas === replicas) return { applied: false, value: undefined };
      sts.replicas = replicas;
      this.reconcileStatefulSet(sts);
      return { applied: true, value: undefined };
    });
  }

  /** The StatefulSet controller: ordinals >= replicas go, missing ordinals are adopted or created. */
  private reconcileStatefulSet(sts: FakeStatefulSet): void {
    for (const pod of [...this.pods.values()]) {
      const ordinal = this.ordinalOf(sts, pod);
      if (ordinal !== null && ordinal >= sts.replicas) this.removeLater(pod.namespace, pod.name, pod.uid);
    }
    for (let i = 0; i < sts.replicas; i++) {
      const name = `${sts.name}-${i}`;
      const pod = this.pods.get(this.k(sts.namespace, name));
      const ref = {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        name: sts.name,
        uid: `sts-${sts.name}`,
        controller: true,
      };
      if (pod && !pod.ownerReferences.some((r) => r.controller)) pod.ownerReferences.push(ref);
      if (!pod) {
        const created = this.addPod({
          ...structuredClone(sts.template),
          name,
          nodeName: [...this.nodes][0],
          ownerReferences: [ref],
          phase: 'Pending',
          ready: false,
        });
        this.startLater(created);
      }
    }
  }

  private ordinalOf(sts: FakeStatefulSet, pod: PodInfo): number | null {
    if (pod.namespace !== sts.namespace || !pod.name.startsWith(`${sts.name}-`)) return null;
    const n = Number(pod.name.slice(sts.name.length + 1));
    return Number.isInteger(n) ? n : null;
  }

  addStatefulSet(sts: FakeStatefulSet): void {
    this.statefulSets.set(this.k(sts.namespace, sts.name), sts);
  }

  async setPodDeletionCost(namespace: string, pod: string, cost: number, key: string): Promise<void> {
    await faulty(this.ctx(), 'setPodDeletionCost', key, this.k(namespace, pod), () => {
      const p = this.pods.get(this.k(namespace, pod));
      if (!p || p.annotations[POD_DELETION_COST] === String(cost)) return { applied: false, value: undefined };
      p.annotations[POD_DELETION_COST] = String(cost);
      return { applied: true, value: undefined };
    });
  }

  async removeOwnerReference(namespace: string, pod: string, ownerUid: string, key: string): Promise<void> {
    await faulty(this.ctx(), 'removeOwnerReference', key, this.k(namespace, pod), () => {
      const p = this.pods.get(this.k(namespace, pod));
      if (!p?.ownerReferences.some((r) => r.uid === ownerUid)) return { applied: false, value: undefined };
      p.ownerReferences = p.ownerReferences.filter((r) => r.uid !== ownerUid);
      // an orphan now: the controllers adopt it when it matches (as the real ones do on the pod's update)
      this.reconcileReplicaSets();
      for (const sts of this.statefulSets.values()) this.reconcileStatefulSet(sts);
      return { applied: true, value: undefined };
    });
  }

  /**
   * The ReplicaSet controller: adopt orphans that match, then delete the surplus ranked as the real one ranks
   * them (controller_utils ActivePodsWithRanks, without the doubled-up rank): unassigned, then Pending before
   * Running, not Ready before Ready, lower pod-deletion-cost, then the newer pod.
   */
  private reconcileReplicaSets(): void {
    for (const rs of this.replicaSets.values()) {
      const matches = (p: PodInfo) =>
        p.namespace === rs.namespace && !p.deleting && Object.entries(rs.selector).every(([k, v]) => p.labels[k] === v);
      for (const p of this.pods.values()) {
        if (matches(p) && !p.ownerReferences.some((r) => r.controller)) {
          p.ownerReferences.push({
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: rs.name,
            uid: `rs-${rs.name}`,
            controller: true,
          });
        }
      }
      const owned = [...this.pods.values()].filter(
        (p) => matches(p) && p.ownerReferences.some((r) => r.controller && r.name === rs.name),
      );
      const cost = (p: PodInfo) => Number(p.annotations[POD_DELETION_COST] ?? 0);
      const phase = (p: PodInfo) => ({ Pending: 0, Unknown: 1, Running: 2 })[p.phase as string] ?? 0;
      // pods iterate in creation order: a later index is a newer pod
      const age = new Map(owned.map((p, i) => [p.uid, i]));
      owned.sort(
        (a, b) =>
          Number(Boolean(a.nodeName)) - Number(Boolean(b.nodeName)) ||
          phase(a) - phase(b) ||
          Number(a.ready) - Number(b.ready) ||
          cost(a) - cost(b) ||
          age.get(b.uid)! - age.get(a.uid)!,
      );
      for (const p of owned.slice(0, Math.max(0, owned.length - rs.replicas)))
        this.removeLater(p.namespace, p.name, p.uid);
    }
  }

  async patchDeploymentNodeAffinity(namespace: string, deployment: string, node: string, key: string): Promise<void> {
    await faulty(this.ctx(), 'patchDeploymentNodeAffinity', key, this.k(namespace, deployment), () => {
      // the fake knows a Deployment by its ReplicaSets
      if (![...this.replicaSets.values()].some((rs) => rs.namespace === namespace && rs.deployment === deployment))
        throw new NotFoundError('Deployment', `${namespace}/${deployment}`, "it owns the source pod's ReplicaSet");
      const applied = this.deploymentAffinity.get(this.k(namespace, deployment)) !== node;
      this.deploymentAffinity.set(this.k(namespace, deployment), node);
      return { applied, value: undefined };
    });
  }

  async recordEvent(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    this.events.push({ ref, type, reason, message });
  }
}
