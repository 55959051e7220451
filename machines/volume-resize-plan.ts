/**
 * The order of a resize, as one pure function: {@link nextStep} reads what is done (the resume markers folded
 * from the log) and says what comes next. The chart routes on it after every fact, the plan written to status is
 * this function run forward on a copy ({@link buildPlan}), and a resumed resize picks up exactly where the log
 * ends. Per phase:
 *
 *   Validating: inspect; measureUsage of every unit
 *   Syncing:    recordOriginals; then replica by replica:
 *                 each volume: createTempClaim, awaitTempBound, retainOldVolume, (preSync)
 *                 orphanStatefulSet (once), deleteReplicaPod
 *                 each volume: copyVolume (rclone sync + checksum verification), removeMigrator
 *   Replacing:  each unit: retainNewVolume, deleteTempClaim, clearNewClaimRef, deleteOriginalClaim,
 *                 bindOriginalClaim; then recreateStatefulSet, awaitReplicasReady
 */
import type { PlanEntry, Unit, VolumeResizeContext } from './volume-resize-context.ts';
import type { UnitStep, VrStep } from './volume-resize-events.ts';

export interface NextStep {
  step: VrStep;
  /** Index into ctx.units, for unit steps. */
  unit?: number;
  /** For deleteReplicaPod. */
  replica?: number;
}

const replicasOf = (ctx: VolumeResizeContext): number[] => [...new Set(ctx.units.map((u) => u.replica))];

function unitsOf(ctx: VolumeResizeContext, replica: number): number[] {
  return ctx.units.flatMap((u, i) => (u.replica === replica ? [i] : []));
}

const firstUndone = (ctx: VolumeResizeContext, idx: number[], steps: readonly UnitStep[]): NextStep | null => {
  for (const i of idx) {
    const u = ctx.units[i]!;
    for (const s of steps) if (!u.done[s]) return { step: s, unit: i };
  }
  return null;
};

/** The next step of the current phase, or null when the phase is complete. */
export function nextStep(ctx: VolumeResizeContext): NextStep | null {
  const all = ctx.units.map((_, i) => i);
  switch (ctx.phase) {
    case 'Validating':
      if (!ctx.done.inspect) return { step: 'inspect' };
      return firstUndone(ctx, all, ['measureUsage']);
    case 'Syncing': {
      if (!ctx.done.recordOriginals) return { step: 'recordOriginals' };
      const prepare: UnitStep[] = ctx.spec.preSync
        ? ['createTempClaim', 'awaitTempBound', 'retainOldVolume', 'preSync']
        : ['createTempClaim', 'awaitTempBound', 'retainOldVolume'];
      for (const r of replicasOf(ctx)) {
        const idx = unitsOf(ctx, r);
        const prep = firstUndone(ctx, idx, prepare);
        if (prep) return prep;
        if (!ctx.done.orphanStatefulSet) return { step: 'orphanStatefulSet' };
        if (!ctx.podsDeleted.includes(r)) return { step: 'deleteReplicaPod', replica: r };
        const copy = firstUndone(ctx, idx, ['copyVolume', 'removeMigrator']);
        if (copy) return copy;
      }
      return null;
    }
    case 'Replacing': {
      const rebind = firstUndone(ctx, all, [
        'retainNewVolume',
        'deleteTempClaim',
        'clearNewClaimRef',
        'deleteOriginalClaim',
        'bindOriginalClaim',
      ]);
      if (rebind) return rebind;
      if (!ctx.done.recreateStatefulSet) return { step: 'recreateStatefulSet' };
      if (!ctx.done.awaitReplicasReady) return { step: 'awaitReplicasReady' };
      return null;
    }
    default:
      return null;
  }
}

/** Marks a step done (what its fact records, minus the data): used by the fold and by the plan's dry run. */
export function markStep(ctx: VolumeResizeContext, next: NextStep): VolumeResizeContext {
  if (next.step === 'deleteReplicaPod' && next.replica !== undefined) {
    return ctx.podsDeleted.includes(next.replica) ? ctx : { ...ctx, podsDeleted: [...ctx.podsDeleted, next.replica] };
  }
  if (next.unit !== undefined) {
    const units = ctx.units.slice();
    const u = units[next.unit]!;
    units[next.unit] = { ...u, done: { ...u.done, [next.step]: true } };
    return { ...ctx, units };
  }
  return { ...ctx, done: { ...ctx.done, [next.step]: true } };
}

/** The step of a unit's fact marks that unit (by replica and volume). */
export function markUnit(
  ctx: VolumeResizeContext,
  replica: number,
  volume: string,
  step: UnitStep,
): VolumeResizeContext {
  const i = ctx.units.findIndex((u) => u.replica === replica && u.volume === volume);
  return i < 0 ? ctx : markStep(ctx, { step, unit: i });
}

/**
 * Every object the resize will scale, delete, create or rebind, in order: {@link nextStep} run forward from
 * Syncing on a copy of the context as if each step succeeded.
 */
export function buildPlan(ctx: VolumeResizeContext): PlanEntry[] {
  const plan: PlanEntry[] = [];
  let c: VolumeResizeContext = { ...ctx, phase: 'Syncing' };
  for (let guard = 0; guard < 10_000; guard++) {
    const n = nextStep(c);
    if (!n) {
      if (c.phase === 'Replacing') break;
      c = { ...c, phase: 'Replacing' };
      continue;
    }
    const d = describeStep(c, n);
    if (d) plan.push({ order: plan.length + 1, step: n.step, ...d });
    c = markStep(c, n);
  }
  return plan;
}

type Described = Omit<PlanEntry, 'order' | 'step'>;

/** What a step does to which object, in words (the plan, Events, `ms2m status`). */
export function describeStep(ctx: VolumeResizeContext, n: NextStep): Described | null {
  const sts = ctx.spec.statefulSetName;
  const u: Unit | undefined = n.unit === undefined ? undefined : ctx.units[n.unit];
  const newPV = u?.newPV ?? `(the PersistentVolume bound to ${u?.tempClaim})`;
  const pvc = 'PersistentVolumeClaim';
  const pv = 'PersistentVolume';
  switch (n.step) {
    case 'recordOriginals':
      return { action: 'Record', kind: 'StatefulSet', name: sts, detail: 'replicas, manifest and reclaim policies' };
    case 'createTempClaim':
      return {
        action: 'Create',
        kind: pvc,
        name: u!.tempClaim,
        detail: `${u!.newSize}${u!.storageClass ? `, class ${u!.storageClass}` : ''}, for replica ${u!.replica}`,
      };
    case 'awaitTempBound':
      return { action: 'Wait', kind: pvc, name: u!.tempClaim, detail: 'until Bound' };
    case 'retainOldVolume':
      return {
        action: 'Patch',
        kind: pv,
        name: u!.oldPV ?? `(bound to ${u!.oldClaim})`,
        detail: `reclaim policy ${u!.oldReclaimPolicy ?? 'current'} -> Retain (holds ${u!.oldClaim})`,
      };
    case 'preSync':
      return {
        action: 'Run',
        kind: 'Pod',
        name: `${ctx.spec.name}-presync-${u!.replica}-${u!.volume}`,
        detail: `rclone sync ${u!.oldClaim} -> ${u!.tempClaim} while the app runs`,
      };
    case 'orphanStatefulSet':
      return { action: 'Delete', kind: 'StatefulSet', name: sts, detail: 'propagation Orphan: pods and claims stay' };
    case 'deleteReplicaPod':
      return { action: 'Delete', kind: 'Pod', name: `${sts}-${n.replica}`, detail: 'stops the replica for the copy' };
    case 'copyVolume':
      return {
        action: 'Run',
        kind: 'Pod',
        name: `${ctx.spec.name}-migrator-${u!.replica}-${u!.volume}`,
        detail: `rclone sync ${u!.oldClaim} -> ${u!.tempClaim}, then checksum verification`,
      };
    case 'removeMigrator':
      return {
        action: 'Delete',
        kind: 'Pod',
        name: `${ctx.spec.name}-migrator-${u!.replica}-${u!.volume}`,
        detail: '',
      };
    case 'retainNewVolume':
      return { action: 'Patch', kind: pv, name: newPV, detail: 'reclaim policy -> Retain' };
    case 'deleteTempClaim':
      return { action: 'Delete', kind: pvc, name: u!.tempClaim, detail: `its PersistentVolume ${newPV} is retained` };
    case 'clearNewClaimRef':
      return { action: 'Patch', kind: pv, name: newPV, detail: 'remove claimRef' };
    case 'deleteOriginalClaim':
      return {
        action: 'Delete',
        kind: pvc,
        name: u!.oldClaim,
        detail: `its PersistentVolume ${u!.oldPV ?? ''} is retained with the old data`.replace('  ', ' '),
      };
    case 'bindOriginalClaim':
      return {
        action: 'Create',
        kind: pvc,
        name: u!.oldClaim,
        detail: `${u!.newSize}, bound to ${newPV}, labels copied`,
      };
    case 'recreateStatefulSet':
      return {
        action: 'Create',
        kind: 'StatefulSet',
        name: sts,
        detail: `volumeClaimTemplates ${ctx.spec.volumes.map((v) => `${v.name}: ${v.newSize}`).join(', ')}`,
      };
    case 'awaitReplicasReady':
      return {
        action: 'Wait',
        kind: 'StatefulSet',
        name: sts,
        detail: `until ${ctx.statefulSet?.replicas ?? ctx.original?.replicas ?? ''} replicas are Ready on the new volumes`,
      };
    default:
      return null;
  }
}
