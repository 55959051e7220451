// `npm run bench -- transfer`: the agent's checkpoint transfer against what the receiving side must do at best, all
// in one run, on the same file (a checkpoint-like tar, 1 GiB by default):
//   agent     agent → agent over loopback (POST /v1/send to A, which PUTs to B): both agents child processes on plain
//             node, as in production (test/harness/agent.ts). B hashes, checks tar headers, writes, fsyncs, renames
//             and builds the image's OCI layout; A reads and hashes.
//   baseline  the least a receiver must do: a minimal node http server (bench/transfer-sink.ts, child process) that
//             sha256-hashes every byte and writes it to a file in the same filesystem, fdatasync at the end, fed by a
//             streaming upload from curl (-T) and from a plain node client; the faster of the two counts.
//   hashing   the same sink fed by the node client hashing what it sends (an extra figure): the least the agent's
//             protocol needs, whose sender must hash too (the sha256 trailer the receiver checks).
//   disk      `dd if=<file> of=<dest> bs=4M conv=fdatasync`: the disk's limit for writing that many bytes.
//   null      curl -T into a sink that drops the bytes (the old baseline; an extra figure).
//   before    with TRANSFER_BEFORE=<git ref>: agent → agent again with the agents of that commit (bench/agent-at-commit.ts).
// ratio = agent MiB/s ÷ min(baseline, disk). Peak RSS (VmHWM) of both agents per size (64 MiB, 1 GiB and 2 GiB by
// default, fresh agents per run); peak_rss_mib is the highest of all. CPU seconds per GiB of each process from /proc.
// Every run starts with the file in the page cache (as after CRIU wrote it) and nothing dirty (sync), outside the
// timing; rounds rotate the order. The file is pseudo-random: a sparse one costs a zero-fill per page on the first read
// and lets a VM's disk skip zeros (TRANSFER_DATA=sparse uses one anyway). Temp files live in one dir, removed at the end.
// Options: TRANSFER_SIZE=64m, TRANSFER_RSS_SIZES=64m,1g,2g, TRANSFER_RUNS=3, TRANSFER_DATA=sparse,
// TRANSFER_BEFORE=HEAD~1, TRANSFER_CPU_PROF=<dir> (agents run with --cpu-prof); run directly, the same as flags:
// `npx tsx bench/transfer.bench.ts --size 64m --rss-sizes 64m --runs 1 --before HEAD --cpu-prof /tmp/prof`.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createAgentClient } from '../adapters/agent-client/agent-client.ts';
import { startAgentProcess, writeRandomTar, writeSparseTar } from '../test/harness/agent.ts';
import { agentAtCommit, type StartAgent } from './agent-at-commit.ts';
import { type CpuTime, cpuSince, cpuTime, vmHwmMiB } from './proc-stats.ts';
import { type Client, ddRun, ready, removeSinkScript, type SinkRun, sinkRun } from './transfer-baseline.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const log = (m: string) => process.stderr.write(`[transfer] ${m}\n`);

interface Options {
  size: number;
  rssSizes: number[];
  runs: number;
  data: 'random' | 'sparse';
  before?: string;
  cpuProfDir?: string;
}

/** `64m`, `1g`, `2g` or a byte count. */
function parseSize(s: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(s.trim());
  if (!m) throw new Error(`transfer: size "${s}" is not like 64m, 1g or a byte count`);
  return (
    Number(m[1]) * { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[(m[2] as string).toLowerCase() as '' | 'k' | 'm' | 'g']
  );
}
const label = (bytes: number) => (bytes % (1024 * MiB) === 0 ? `${bytes / 1024 / MiB}g` : `${bytes / MiB}m`);

function options(argv: string[], env: NodeJS.ProcessEnv): Options {
  const flag = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const data = flag('data') ?? env.TRANSFER_DATA ?? 'random';
  if (data !== 'random' && data !== 'sparse') throw new Error(`transfer: data must be random or sparse, not ${data}`);
  const runs = Number(flag('runs') ?? env.TRANSFER_RUNS ?? 1);
  if (!(Number.isInteger(runs) && runs > 0)) throw new Error(`transfer: runs must be a positive integer`);
  return {
    size: parseSize(flag('size') ?? env.TRANSFER_SIZE ?? '1g'),
    rssSizes: (flag('rss-sizes') ?? env.TRANSFER_RSS_SIZES ?? '64m,1g,2g').split(',').map(parseSize),
    runs,
    data,
    before: flag('before') ?? env.TRANSFER_BEFORE,
    cpuProfDir: flag('cpu-prof') ?? env.TRANSFER_CPU_PROF,
  };
}

interface AgentRun {
  seconds: number;
  senderPeakMiB: number;
  receiverPeakMiB: number;
  senderCpu: CpuTime;
  receiverCpu: CpuTime;
}

/** One send of `file` from a fresh agent A to a fresh agent B, started by `start`. */
async function agentRun(root: string, file: string, o: Options, start: StartAgent): Promise<AgentRun> {
  const token = 'bench-token';
  const dir = mkdtempSync(join(root, 'agents-'));
  const mk = (n: string) => {
    const d = { storeDir: join(dir, n, 'store'), checkpointsDir: join(dir, n, 'checkpoints') };
    mkdirSync(d.checkpointsDir, { recursive: true });
    return d;
  };
  const a = mk('a');
  const b = mk('b');
  await run('ln', [file, join(a.checkpointsDir, 'ckpt.tar')]); // A's checkpoint is the file (hard link, no copy)
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  const pa = await start({ ...a, token, nodeArgs });
  try {
    const pb = await start({ ...b, token, nodeArgs });
    try {
      const urls = new Map([
        ['a', pa.url],
        ['b', pb.url],
      ]);
      const client = createAgentClient({ token, resolve: (n) => urls.get(n) as string });
      await ready(file);
      const cpuA = cpuTime(pa.pid);
      const cpuB = cpuTime(pb.pid);
      const t = performance.now();
      await client.send({
        sourceNode: 'a',
        targetNode: 'b',
        checkpointPath: join(a.checkpointsDir, 'ckpt.tar'),
        container: 'app',
        migrationId: 'bench',
        key: 'bench:transfer',
      });
      const seconds = (performance.now() - t) / 1000;
      return {
        seconds,
        senderPeakMiB: vmHwmMiB(pa.pid),
        receiverPeakMiB: vmHwmMiB(pb.pid),
        senderCpu: cpuSince(cpuA, cpuTime(pa.pid)),
        receiverCpu: cpuSince(cpuB, cpuTime(pb.pid)),
      };
    } finally {
      await pb.stop();
    }
  } finally {
    await pa.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const r1 = (x: number) => Number(x.toFixed(1));
const r2 = (x: number) => Number(x.toFixed(2));
const r3 = (x: number) => Number(x.toFixed(3));

export async function run_(argv: string[] = [], env = process.env): Promise<Record<string, unknown>> {
  const o = options(argv, env);
  const root = mkdtempSync(join(tmpdir(), 'ms2m-bench-transfer-'));
  const sinkDir = join(root, 'sink');
  mkdirSync(sinkDir);
  try {
    const before = o.before ? await agentAtCommit(o.before, root) : undefined;
    const make = async (bytes: number) => {
      const file = join(root, `${label(bytes)}.tar`);
      log(`writing a ${label(bytes)} ${o.data} checkpoint tar`);
      await (o.data === 'random' ? writeRandomTar(file, bytes) : writeSparseTar(file, bytes));
      return file;
    };
    const peaks = new Map<string, number[]>(); // label → peak RSS of each agent run (sender and receiver)
    const addPeak = (bytes: number, r: AgentRun) =>
      peaks.set(label(bytes), [...(peaks.get(label(bytes)) ?? []), r.senderPeakMiB, r.receiverPeakMiB]);
    const rss = (r: AgentRun) => `peak RSS sender ${r1(r.senderPeakMiB)} / receiver ${r1(r.receiverPeakMiB)} MiB`;
    for (const bytes of o.rssSizes.filter((s) => s !== o.size)) {
      const file = await make(bytes);
      const r = await agentRun(root, file, o, startAgentProcess);
      addPeak(bytes, r);
      log(`agent ${label(bytes)}: ${r1(bytes / MiB / r.seconds)} MiB/s, ${rss(r)}`);
      rmSync(file, { force: true });
    }

    const file = await make(o.size);
    const bytes = statSync(file).size;
    const mibs = (s: number) => bytes / MiB / s;
    const gib = bytes / 1024 / MiB;
    const hashWrite = ['hash-write', sinkDir];
    const agent: AgentRun[] = [];
    const old: AgentRun[] = [];
    const curl: SinkRun[] = [];
    const node: SinkRun[] = [];
    const hashing: SinkRun[] = [];
    const nul: SinkRun[] = [];
    const dd: number[] = [];
    const sinkStep = (into: SinkRun[], client: Client, args: string[]) => async () => {
      const r = await sinkRun(file, client, args);
      into.push(r);
      return `${r1(mibs(r.seconds))} MiB/s, sink peak RSS ${r1(r.sinkPeakMiB)} MiB ${JSON.stringify(r.answer)}`;
    };
    const steps: [string, () => Promise<string>][] = [
      [
        'agent → agent',
        async () => {
          const r = await agentRun(root, file, o, startAgentProcess);
          agent.push(r);
          addPeak(o.size, r);
          return `${r1(mibs(r.seconds))} MiB/s, ${rss(r)}`;
        },
      ],
      ['curl → hash+write+fdatasync sink', sinkStep(curl, 'curl', hashWrite)],
      ['node → hash+write+fdatasync sink', sinkStep(node, 'node', hashWrite)],
      ['node+sha256 → hash+write+fdatasync sink', sinkStep(hashing, 'node-hash', hashWrite)],
      [
        'dd conv=fdatasync',
        async () => {
          const s = await ddRun(file, join(root, 'dd.out'));
          dd.push(s);
          return `${r1(mibs(s))} MiB/s`;
        },
      ],
      ['curl → null sink', sinkStep(nul, 'curl', ['null'])],
    ];
    if (before)
      steps.splice(1, 0, [
        `agent → agent at ${before.commit.slice(0, 12)} (before)`,
        async () => {
          const r = await agentRun(root, file, o, before.start);
          old.push(r);
          return `${r1(mibs(r.seconds))} MiB/s, ${rss(r)}`;
        },
      ]);
    for (let i = 0; i < o.runs; i++) {
      // the order rotates each round: no method always runs first, or right after the same other one
      for (let k = 0; k < steps.length; k++) {
        const [name, step] = steps[(i + k) % steps.length] as (typeof steps)[number];
        log(`${label(o.size)} round ${i + 1}/${o.runs}, ${name}: ${await step()}`);
      }
    }

    const m = (rs: { seconds: number }[]) => mibs(median(rs.map((r) => r.seconds)));
    const curlMiBs = m(curl);
    const nodeMiBs = m(node);
    const baseline = Math.max(curlMiBs, nodeMiBs);
    const counted = curlMiBs >= nodeMiBs ? curl : node; // the baseline's runs
    const disk = mibs(median(dd));
    const cpu = (key: string, cs: CpuTime[]) => ({
      [`${key}_cpu_user_s_per_gib`]: r2(median(cs.map((c) => c.user)) / gib),
      [`${key}_cpu_sys_s_per_gib`]: r2(median(cs.map((c) => c.sys)) / gib),
    });
    const all = [...peaks.values()].flat();
    const beforeKeys = before
      ? {
          before_commit: before.commit,
          before_mib_per_s: r1(m(old)),
          before_ratio: r3(m(old) / Math.min(baseline, disk)),
          before_peak_rss_mib: r1(Math.max(...old.flatMap((r) => [r.senderPeakMiB, r.receiverPeakMiB]))),
          ...cpu(
            'before_receiver',
            old.map((r) => r.receiverCpu),
          ),
          ...cpu(
            'before_sender',
            old.map((r) => r.senderCpu),
          ),
        }
      : {};
    return {
      ratio: r3(m(agent) / Math.min(baseline, disk)),
      mib_per_s: r1(m(agent)),
      baseline_mib_per_s: r1(baseline),
      disk_mib_per_s: r1(disk),
      peak_rss_mib: r1(Math.max(...all)),
      ...Object.fromEntries([...peaks].map(([l, ps]) => [`peak_rss_mib_${l}`, r1(Math.max(...ps))])),
      baseline_client: counted === curl ? 'curl' : 'node',
      baseline_curl_mib_per_s: r1(curlMiBs),
      baseline_node_mib_per_s: r1(nodeMiBs),
      null_sink_mib_per_s: r1(m(nul)),
      ratio_vs_null_sink: r3(m(agent) / m(nul)),
      ...cpu(
        'sender',
        agent.map((r) => r.senderCpu),
      ),
      ...cpu(
        'receiver',
        agent.map((r) => r.receiverCpu),
      ),
      ...cpu(
        'baseline_sink',
        counted.map((r) => r.sinkCpu),
      ),
      ...cpu(
        'baseline_client',
        counted.map((r) => r.clientCpu),
      ),
      hashing_sender_mib_per_s: r1(m(hashing)),
      ...cpu(
        'hashing_sender',
        hashing.map((r) => r.clientCpu),
      ),
      baseline_sink_peak_rss_mib: r1(Math.max(...[...curl, ...node, ...hashing].map((r) => r.sinkPeakMiB))),
      ...beforeKeys,
      size_mib: r1(bytes / MiB),
      runs: o.runs,
      data: o.data,
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
    await removeSinkScript();
  }
}
export { run_ as run };

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const r = await run_(process.argv.slice(2));
  console.log(JSON.stringify({ name: 'transfer', ...r }));
  process.exit(0);
}
