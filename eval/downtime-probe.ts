/**
 * Service downtime as a client sees it: every `intervalMs` (10 ms by default) the probe asks each current
 * endpoint of the workload (the source pod, later the target pod) over HTTP, with a timeout of `timeoutMs`
 * (1 s). A probe finds the workload up when at least one endpoint answered 200; its latency is the fastest such
 * answer. Downtime is the longest outage, from the first probe nobody answered to the next answer (0 when every
 * probe was answered); the longest stall is the slowest successful probe, e.g. while CRIU freezes the source to
 * dump it (a client with a timeout above it sees latency, not an outage).
 */
import { request } from 'node:http';

export interface DowntimeReport {
  probes: number;
  /** Probes at which no endpoint answered in time. */
  failedProbes: number;
  /** Longest outage (ms): from the first probe nobody answered to the next answer (0 = never down). */
  maxDowntimeMs: number;
  /** Sum of the outages (ms). */
  totalDowntimeMs: number;
  /** Slowest successful probe (ms): the longest stall a client saw. */
  maxLatencyMs: number;
  intervalMs: number;
}

/** GET `url` with a hard timeout; resolves the latency (ms) of a 200 answer, or null. No keep-alive. */
function answer(url: string, timeoutMs: number): Promise<number | null> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : null));
      res.once('error', () => resolve(null));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(null));
    req.end();
  });
}

/**
 * Probes the endpoints `endpoints()` returns (called at every probe, so the set can change) until `stop()`.
 *
 * @example
 * ```ts
 * const probe = startDowntimeProbe(() => [`http://${sourceIp}:8080/healthz`, ...(targetIp ? [`http://${targetIp}:8080/healthz`] : [])]);
 * // ... migrate ...
 * const report = await probe.stop(); // report.maxDowntimeMs, report.maxLatencyMs
 * ```
 */
export function startDowntimeProbe(
  endpoints: () => readonly string[],
  opts: { intervalMs?: number; timeoutMs?: number } = {},
): { stop(): Promise<DowntimeReport> } {
  const intervalMs = opts.intervalMs ?? 10;
  const timeoutMs = opts.timeoutMs ?? 1000;
  let stopped = false;
  let probes = 0;
  let failed = 0;
  let downSince: number | null = null;
  let maxGap = 0;
  let totalGap = 0;
  let maxLatency = 0;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      const latencies = (await Promise.all(endpoints().map((u) => answer(u, timeoutMs)))).filter(
        (l): l is number => l !== null,
      );
      probes++;
      if (latencies.length > 0) {
        maxLatency = Math.max(maxLatency, Math.min(...latencies));
        if (downSince !== null) {
          // down from the first probe nobody answered to this answer
          const gap = performance.now() - downSince;
          maxGap = Math.max(maxGap, gap);
          totalGap += gap;
          downSince = null;
        }
      } else {
        failed++;
        downSince ??= started;
      }
      const wait = intervalMs - (performance.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return {
        probes,
        failedProbes: failed,
        maxDowntimeMs: Math.round(maxGap),
        totalDowntimeMs: Math.round(totalGap),
        maxLatencyMs: Math.round(maxLatency),
        intervalMs,
      };
    },
  };
}
