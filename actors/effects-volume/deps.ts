/**
 * What every VolumeResize effect gets: the VolumeOps port, the clock and logger, and small helpers (the unit the
 * step acts on, polls bounded by the phase deadline, throttled progress facts).
 */
import type { Logger } from 'pino';
import type { Clock } from '../../adapters/clock/port.ts';
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import type { VolumeOps } from '../../adapters/volumes/port.ts';
import type { Unit, VolumeResizeContext } from '../../machines/volume-resize-context.ts';
import type { VrEvent, VrStep } from '../../machines/volume-resize-events.ts';
import type { Effect as ChartEffect, EffectEnv as ChartEffectEnv, EffectInput as ChartEffectInput } from '../chart.ts';

export interface VolumeEffectDeps {
  volumes: VolumeOps;
  clock: Clock;
  logger: Logger;
  /** How often waits poll (claim Bound, pod gone, replicas Ready). */
  pollMs: number;
  /** Copy progress is recorded at most this often (default 1000 ms). */
  progressIntervalMs?: number;
  /**
   * How long a temp claim may stay unprovisioned with a ProvisioningFailed Event before the resize fails
   * (default 120 s: provisioners retry, a refusal that outlasts this is taken as final).
   */
  provisioningGraceMs?: number;
}

export const DEFAULT_PROVISIONING_GRACE_MS = 120_000;

export type VrEffectEnv = ChartEffectEnv<VrEvent, VolumeEffectDeps>;
export type VrEffectInput = ChartEffectInput<VolumeResizeContext, VrStep>;
export type VrEffect = ChartEffect<VolumeResizeContext, VrEvent, VrStep, VolumeEffectDeps>;

/** The unit (replica × volume) the running step acts on. */
export function currentUnit(input: VrEffectInput): Unit {
  const cur = input.ctx.current;
  const u = cur && input.ctx.units.find((x) => x.replica === cur.replica && x.volume === cur.volume);
  if (!u || cur?.step !== input.step) {
    throw new Ms2mError(
      ErrorCode.MISSING_CONTEXT,
      `VolumeResize ${input.ctx.resizeId}: step ${input.step} has no current volume in its context; this is a bug of the chart`,
    );
  }
  return u;
}

/** A value the context must hold by now (recorded by an earlier fact). */
export function required<T>(input: VrEffectInput, what: string, value: T | undefined): T {
  if (value === undefined) {
    throw new Ms2mError(
      ErrorCode.MISSING_CONTEXT,
      `VolumeResize ${input.ctx.resizeId}: step ${input.step} needs ${what}, which no earlier fact recorded; this is a bug of the chart`,
    );
  }
  return value;
}

/** Milliseconds left until the phase deadline (the timeout of long operations); 1 h when there is none. */
export function timeLeftMs(input: VrEffectInput, env: VrEffectEnv): number {
  const at = input.deadline?.at;
  return at === undefined ? 3_600_000 : Math.max(1000, at - env.deps.clock.now());
}

/**
 * Polls `check` every pollMs until it returns a value (not undefined). It ends when the step's signal aborts,
 * which the phase deadline does (the host records DeadlineExceeded and the chart stops the step).
 */
export async function pollUntil<T>(env: VrEffectEnv, check: () => Promise<T | undefined>): Promise<T> {
  const { clock, pollMs } = env.deps;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await clock.sleepUntil(clock.now() + pollMs, env.signal);
  }
}

/** Labels on every object a resize creates (finalizer cleanup lists them). */
export const resizeLabels = (ctx: VolumeResizeContext, role: string): Record<string, string> => ({
  'storage.ms2m.io/volume-resize': ctx.spec.name,
  'storage.ms2m.io/role': role,
});

/** Key of a step on a unit. */
export const ownerOf = (ctx: VolumeResizeContext): string => `${ctx.spec.namespace}/${ctx.spec.name}`;
