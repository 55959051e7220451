/**
 * Threshold cutoff (MS2M, arXiv 2509.05794): the replay may run at most
 * `T_cutoff <= T_replay_max · mu / lambda` seconds, with mu the target's measured consumer rate and lambda the
 * producer rate. A configured `replayCutoffSeconds` wins. Never above T_replay_max; with no producer
 * (lambda = 0) the whole T_replay_max is allowed.
 */
export interface Cutoff {
  seconds: number;
  computed: boolean;
  mu?: number;
  lambda?: number;
}

export function computeCutoff(
  replayCutoffSeconds: number | undefined,
  replayMaxSeconds: number,
  mu: number | undefined,
  lambda: number | undefined,
): Cutoff {
  if (replayCutoffSeconds !== undefined && replayCutoffSeconds > 0) {
    return { seconds: replayCutoffSeconds, computed: false };
  }
  const m = mu ?? 0;
  const l = lambda ?? 0;
  const seconds = l <= 0 ? replayMaxSeconds : Math.min(replayMaxSeconds, (replayMaxSeconds * m) / l);
  return { seconds: Math.round(seconds * 1000) / 1000, computed: true, mu: m, lambda: l };
}
