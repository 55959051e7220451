import type { CheckpointRequest, CheckpointResult, Kubelet } from './port.ts';

export interface FakeKubeletCall {
  key: string;
  req: CheckpointRequest;
}

/**
 * In-memory Kubelet for the pure tiers. Records every call with its key `<node>/<ns>/<pod>/<ctr>`; answers a
 * deterministic path, or what `respond` returns/throws (to script failures).
 *
 * @example
 * ```ts
 * const kubelet = createFakeKubelet();
 * await kubelet.checkpoint({ node: 'n1', namespace: 'default', pod: 'p', container: 'c' });
 * kubelet.calls[0].key; // 'n1/default/p/c'
 * ```
 */
export function createFakeKubelet(
  opts: { respond?: (req: CheckpointRequest, callIndex: number) => CheckpointResult | Promise<CheckpointResult> } = {},
): Kubelet & { calls: FakeKubeletCall[] } {
  const calls: FakeKubeletCall[] = [];
  return {
    calls,
    async checkpoint(req) {
      const key = `${req.node}/${req.namespace}/${req.pod}/${req.container}`;
      calls.push({ key, req });
      if (opts.respond) return opts.respond(req, calls.length - 1);
      return { path: `/var/lib/kubelet/checkpoints/checkpoint-${req.pod}_${req.namespace}-${req.container}-${calls.length}.tar` };
    },
  };
}
