import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { PredumpRequest, PredumpStatus } from '../adapters/agent-client/port.ts';

const run = promisify(execFile);

/** Pre-dump control (iterative `criu pre-dump --track-mem`), gated on kernel support. */
export interface PredumpControl {
  handle(req: PredumpRequest): Promise<PredumpStatus>;
}

/** What capability detection found. */
export type PredumpCapability = { supported: true } | { supported: false; reason: string };

/**
 * Runs `criu check --feature mem_dirty_track` once. No criu, or a kernel without soft-dirty tracking, means
 * unsupported with the reason (never a crash).
 *
 * @example
 * ```ts
 * const cap = await detectPredump(); // { supported: false, reason: 'criu not found ...' }
 * ```
 */
export async function detectPredump(criu = 'criu'): Promise<PredumpCapability> {
  try {
    await run(criu, ['check', '--feature', 'mem_dirty_track'], { timeout: 15_000 });
    return { supported: true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (e.code === 'ENOENT')
      return { supported: false, reason: `criu not found (${criu}): install CRIU on the node to use pre-dumps` };
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-3).join(' ');
    return {
      supported: false,
      reason: `kernel lacks memory dirty tracking (criu check --feature mem_dirty_track failed: ${out || e.message})`,
    };
  }
}

/**
 * Pre-dump controller. Where tracking is supported, tracks start/stop per container and counts the dumps a
 * `dump` callback takes (the runtime-specific part: finding the container's PID and running the criu chain).
 *
 * @example
 * ```ts
 * const predump = createPredumpControl({ detect: () => detectPredump() });
 * await predump.handle({ action: 'status', namespace: 'default', pod: 'p', container: 'c' });
 * ```
 */
export function createPredumpControl(o: {
  detect: () => Promise<PredumpCapability>;
  dump?: (req: PredumpRequest, iteration: number) => Promise<void>;
  intervalMs?: number;
}): PredumpControl & { close(): void } {
  let cap: Promise<PredumpCapability> | undefined;
  const runs = new Map<string, { timer: NodeJS.Timeout; dumps: number }>();
  const key = (r: PredumpRequest) => `${r.namespace}/${r.pod}/${r.container}`;
  return {
    async handle(req) {
      cap ??= o.detect();
      const c = await cap;
      if (!c.supported) return { supported: false, reason: c.reason };
      const dump = o.dump;
      if (!dump)
        return {
          supported: false,
          reason: 'memory tracking works, but this agent has no container runtime hook for pre-dumps',
        };
      const k = key(req);
      const cur = runs.get(k);
      if (req.action === 'start' && !cur) {
        const st = {
          dumps: 0,
          timer: setInterval(
            () =>
              void dump(req, st.dumps + 1).then(
                () => void st.dumps++,
                () => undefined,
              ),
            o.intervalMs ?? 5000,
          ),
        };
        runs.set(k, st);
      } else if (req.action === 'stop' && cur) {
        clearInterval(cur.timer);
        runs.delete(k);
        return { supported: true, running: false, dumps: cur.dumps };
      }
      const now = runs.get(k);
      return { supported: true, running: Boolean(now), dumps: now?.dumps ?? 0 };
    },
    close() {
      for (const r of runs.values()) clearInterval(r.timer);
      runs.clear();
    },
  };
}
