/**
 * `ms2m agent`: runs the node agent in this process (agent/agent-process.ts): the flags below, or the
 * MS2M_AGENT_* variables of its image (every flag has one; the rarer limits are variables only). Runs until
 * SIGTERM or SIGINT, then stops cleanly (exit 0).
 */
import { type Command, Option } from 'commander';
import type { AgentProcess } from '../../agent/agent-process.ts';
import { oneOf, text, wholeNumber } from '../cli-options.ts';
import { type CliIo, type CommandModule, UsageError } from '../command-context.ts';
import { untilSignal } from '../until-signal.ts';

/** flag -> [variable, description, parser]. */
const FLAGS: Array<[string, string, string, ((v: string) => unknown)?]> = [
  ['--token <token>', 'MS2M_AGENT_TOKEN', 'bearer token clients must send (required, or --token-file)'],
  ['--token-file <file>', 'MS2M_AGENT_TOKEN_FILE', 'file holding the bearer token'],
  ['--store <dir>', 'MS2M_AGENT_STORE', 'where received checkpoints are kept (default /var/lib/ms2m-agent)'],
  [
    '--checkpoints <dir>',
    'MS2M_AGENT_CHECKPOINTS',
    "the kubelet's checkpoint directory (default /var/lib/kubelet/checkpoints)",
  ],
  ['--host <address>', 'MS2M_AGENT_HOST', 'listen address (default 0.0.0.0)'],
  [
    '--port <port>',
    'MS2M_AGENT_PORT',
    'listen port (default 7443; 0: any free port, logged)',
    wholeNumber('--port', 0),
  ],
  ['--tls-cert <file>', 'MS2M_AGENT_TLS_CERT', 'serve https with this certificate (and --tls-key)'],
  ['--tls-key <file>', 'MS2M_AGENT_TLS_KEY', 'private key of --tls-cert'],
  ['--peer-ca <file>', 'MS2M_AGENT_PEER_CA', 'CA of the peer agents (https between agents)'],
  ['--max-concurrent <n>', 'MS2M_AGENT_MAX_CONCURRENT', 'transfers at once', wholeNumber('--max-concurrent')],
  ['--max-body-bytes <n>', 'MS2M_AGENT_MAX_BODY_BYTES', 'largest checkpoint accepted', wholeNumber('--max-body-bytes')],
  ['--bytes-per-second <n>', 'MS2M_AGENT_BYTES_PER_SECOND', 'transfer rate limit', wholeNumber('--bytes-per-second')],
  [
    '--containers-storage <mode>',
    'MS2M_AGENT_CONTAINERS_STORAGE',
    'auto, on or off: load images into containers-storage (CRI-O)',
    oneOf('--containers-storage', ['auto', 'on', 'off'], 'a containers-storage mode'),
  ],
  [
    '--containerd-socket <path>',
    'MS2M_AGENT_CONTAINERD_SOCKET',
    "load images into this containerd (the node's runtime)",
  ],
  ['--ctr <path>', 'MS2M_AGENT_CTR', 'the ctr binary (default ctr)'],
  [
    '--gc-max-age-ms <ms>',
    'MS2M_AGENT_GC_MAX_AGE_MS',
    'remove stored checkpoints older than this (0: never)',
    wholeNumber('--gc-max-age-ms', 0),
  ],
];

/** `--containerd-socket` -> `containerdSocket` (commander's attribute name). */
const attribute = (flag: string) =>
  (flag.split(' ')[0] as string).slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export const agentCommand: CommandModule = {
  name: 'agent',
  register(program: Command, io: CliIo) {
    const cmd = program
      .command('agent')
      .description('run the node agent here (checkpoint transfer between nodes); stop with Ctrl-C')
      .option('--insecure-registry', 'plain http registries (MS2M_AGENT_INSECURE_REGISTRY=1)')
      .addHelpText(
        'after',
        `
The agent logs JSON lines (pino) on stdout. Registry credentials: MS2M_AGENT_REGISTRY_USER and
MS2M_AGENT_REGISTRY_PASSWORD (variables only, never flags); other limits: see agent/agent-process.ts.

Examples:
  $ ms2m agent --token-file /etc/ms2m-agent/token --containerd-socket /run/containerd/containerd.sock
  $ ms2m agent --token dev --port 0 --store /tmp/agent --containers-storage off`,
      );
    for (const [flag, variable, description, parse] of FLAGS) {
      const option = new Option(flag, description).env(variable);
      cmd.addOption(option.argParser(parse ?? text(flag.split(' ')[0] as string)));
    }
    cmd.action(async (o: Record<string, unknown>) => {
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const [flag, variable] of FLAGS) {
        const v = o[attribute(flag)];
        if (v !== undefined) env[variable] = String(v);
      }
      if (o.insecureRegistry) env.MS2M_AGENT_INSECURE_REGISTRY = '1';
      if (!env.MS2M_AGENT_TOKEN && !env.MS2M_AGENT_TOKEN_FILE)
        throw new UsageError('ms2m agent needs --token or --token-file (or MS2M_AGENT_TOKEN or MS2M_AGENT_TOKEN_FILE)');
      // listening for the signal before the start: a SIGTERM while it starts stops it once started
      const signalled = untilSignal();
      const { AgentConfigError, startAgentProcess } = await import('../../agent/agent-process.ts');
      let agent: AgentProcess;
      try {
        agent = await startAgentProcess(env);
      } catch (err) {
        if (err instanceof AgentConfigError) throw new UsageError(`ms2m agent: ${err.message}`);
        throw err;
      }
      io.stderr.write(`ms2m agent: listening on ${agent.address.address}:${agent.address.port}; Ctrl-C stops it\n`);
      await signalled;
      await agent.stop();
    });
  },
};
