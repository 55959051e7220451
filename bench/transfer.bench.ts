// `npm run bench -- transfer`: agent→agent over loopback (both agents child processes) vs
// curl (streamed POST of the file) to a null sink, same file, same run. Peak RSS (VmHWM) of both agents at 64 MiB,
// 1 GiB and 2 GiB (fresh agents per size). Files are sparse tars in a temp dir, removed at the end.
// The agents run as built JS on plain node (test/harness/agent.ts `buildAgent`), as in production. Both the agent
// and the curl run start with the file in the page cache (read once before each run): a sparse file read cold
// costs the kernel a zero-fill of every page, which only the first reader paid (the agent, curl ran second).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAgentClient } from '../adapters/agent-client/agent-client.ts';
import { startAgentProcess, writeSparseTar } from '../test/harness/agent.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const log = (m: string) => process.stderr.write(`[transfer] ${m}\n`);

/** Reads the file once so that it is in the page cache, like a checkpoint CRIU has just written. */
const warm = (file: string) => run('dd', [`if=${file}`, 'of=/dev/null', 'bs=4M', 'status=none']);

function vmHwmMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function agentRun(root: string, file: string, label: string): Promise<{ seconds: number; peak: number }> {
  const token = 'bench-token';
  const dir = join(root, label);
  const mk = (n: string) => {
    const d = { storeDir: join(dir, n, 'store'), checkpointsDir: join(dir, n, 'checkpoints') };
    mkdirSync(d.checkpointsDir, { recursive: true });
    return d;
  };
  const a = mk('a');
  const b = mk('b');
  // the file lives in A's checkpoints dir (hard link, no copy)
  await run('ln', [file, join(a.checkpointsDir, 'ckpt.tar')]);
  const pa = await startAgentProcess({ ...a, token });
  const pb = await startAgentProcess({ ...b, token });
  await warm(file);
  try {
    const urls = new Map([
      ['a', pa.url],
      ['b', pb.url],
    ]);
    const client = createAgentClient({ token, resolve: (n) => urls.get(n) as string });
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
    const peak = Math.max(vmHwmMiB(pa.pid), vmHwmMiB(pb.pid));
    return { seconds, peak };
  } finally {
    await pa.stop();
    await pb.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function curlRun(file: string): Promise<number> {
  let got = 0;
  const sink = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (got += c.length));
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  try {
    const port = (sink.address() as AddressInfo).port;
    await warm(file);
    const t = performance.now();
    // `--data-binary @file` loads the whole file and fails with "out of memory" at 1 GiB in curl 7.88, so the
    // same POST is streamed from the file with -T (what curl does for large bodies).
    await run(
      'curl',
      ['-s', '-o', '/dev/null', '-H', 'Expect:', '-X', 'POST', '-T', file, `http://127.0.0.1:${port}/`],
      { maxBuffer: 1 << 20 },
    );
    const seconds = (performance.now() - t) / 1000;
    if (got !== statSync(file).size) throw new Error(`null sink got ${got} bytes`);
    return seconds;
  } finally {
    sink.close();
  }
}

export async function run_(): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'ms2m-bench-transfer-'));
  try {
    const sizes = { '64m': 64 * MiB, '1g': 1024 * MiB, '2g': 2048 * MiB };
    const out: Record<string, { seconds: number; peak: number }> = {};
    for (const [label, bytes] of Object.entries(sizes)) {
      const file = join(root, `${label}.tar`);
      await writeSparseTar(file, bytes);
      log(`agent send ${label}`);
      out[label] = await agentRun(root, file, label);
      log(`${label}: ${out[label]?.seconds.toFixed(2)} s, peak RSS ${out[label]?.peak.toFixed(1)} MiB`);
      if (label !== '1g') rmSync(file, { force: true });
    }
    const file1g = join(root, '1g.tar');
    log('curl --data-binary 1 GiB to a null sink');
    const curlSeconds = await curlRun(file1g);
    const size = statSync(file1g).size / MiB;
    const agentMiBs = size / (out['1g']?.seconds ?? Number.NaN);
    const curlMiBs = size / curlSeconds;
    return {
      ratio: Number((agentMiBs / curlMiBs).toFixed(3)),
      mib_per_s: Number(agentMiBs.toFixed(1)),
      curl_mib_per_s: Number(curlMiBs.toFixed(1)),
      peak_rss_mib: Number((out['1g']?.peak ?? 0).toFixed(1)),
      peak_rss_mib_64m: Number((out['64m']?.peak ?? 0).toFixed(1)),
      peak_rss_mib_2g: Number((out['2g']?.peak ?? 0).toFixed(1)),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
export { run_ as run };
