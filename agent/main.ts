// The node agent process: wires real dependencies from environment variables and listens.
//   MS2M_AGENT_TOKEN or MS2M_AGENT_TOKEN_FILE   bearer token (required)
//   MS2M_AGENT_STORE (/var/lib/ms2m-agent)      MS2M_AGENT_CHECKPOINTS (/var/lib/kubelet/checkpoints)
//   MS2M_AGENT_HOST (0.0.0.0)  MS2M_AGENT_PORT (7443; 0 = random, the log line "Agent listening" names it)
//   MS2M_AGENT_MAX_BODY_BYTES  MS2M_AGENT_MAX_CONCURRENT  MS2M_AGENT_BYTES_PER_SECOND
//   MS2M_AGENT_BODY_IDLE_MS (30 s)  MS2M_AGENT_BODY_GRACE_MS (60 s)  MS2M_AGENT_MIN_BODY_BYTES_PER_SECOND (1 MiB/s)
//   MS2M_AGENT_MAX_BODY_MS (6 h)  MS2M_AGENT_HEADERS_TIMEOUT_MS (20 s)  MS2M_AGENT_MAX_TAR_ENTRIES (200000)
//   MS2M_AGENT_TLS_CERT / MS2M_AGENT_TLS_KEY (serve https)  MS2M_AGENT_PEER_CA (CA for peer agents)
//   MS2M_AGENT_INSECURE_REGISTRY=1 (plain http registries)  MS2M_AGENT_REGISTRY_USER / _PASSWORD
//   MS2M_AGENT_CONTAINERS_STORAGE=auto|on|off    MS2M_AGENT_GC_MAX_AGE_MS (default 6 h, 0 = off)
//   MS2M_AGENT_CONTAINERD_SOCKET (set: load images into the node's containerd with ctr, e.g.
//   /run/containerd/containerd.sock)  MS2M_AGENT_CTR (ctr)  MS2M_AGENT_CONTAINERD_NAMESPACE (k8s.io)
//   MS2M_AGENT_CONTAINERD_SNAPSHOTTER (overlayfs: the snapshotter containerd's CRI runtime uses)
// The settings and the wiring live in agent-process.ts (`ms2m agent` runs the same).
import { AgentConfigError, startAgentProcess } from './agent-process.ts';

// the handlers first: a SIGTERM that arrives while the agent starts (it logs "Agent listening" before the start
// resolves) must stop it cleanly, not kill it by the signal's default action
let stop: (() => Promise<void>) | undefined;
let stopRequested = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.once(sig, () => {
    stopRequested = true;
    if (stop) void stop().then(() => process.exit(0));
  });
try {
  const agent = await startAgentProcess(process.env);
  stop = () => agent.stop();
  if (stopRequested) await stop().then(() => process.exit(0));
} catch (err) {
  console.error(`ms2m-agent: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof AgentConfigError ? 2 : 1);
}
