// The baselines of bench/transfer.bench.ts: uploads into bench/transfer-sink.ts (a child process on plain node) from
// curl or a node client, and dd of the same file (the disk's limit). Each starts from `ready` (file in the page
// cache, nothing dirty) outside its timing.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { SOCKET_BUFFER } from '../agent/context.ts';
import { type CpuTime, cpuSince, cpuTime, vmHwmMiB } from './proc-stats.ts';

const run = promisify(execFile);

/** Flushes dirty pages (ours and other jobs'), then reads the file once so that it is in the page cache. */
export async function ready(file: string): Promise<void> {
  await run('sync');
  await run('dd', [`if=${file}`, 'of=/dev/null', 'bs=4M', 'status=none']);
}

let sinkScript: Promise<string> | undefined;

/** Bundles bench/transfer-sink.ts to plain JS once (like the agent: no tsx loader in the measured process). */
function buildSink(): Promise<string> {
  sinkScript ??= (async () => {
    const repo = resolve(import.meta.dirname, '..');
    const out = join(repo, 'dist', 'bench', `transfer-sink.${process.pid}.mjs`);
    const { build } = await import('esbuild');
    const r = await build({
      entryPoints: [join(repo, 'bench', 'transfer-sink.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      write: false,
      logLevel: 'error',
    });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, (r.outputFiles[0] as { contents: Uint8Array }).contents);
    return out;
  })();
  return sinkScript;
}

/** Removes the sink bundle of this process. */
export async function removeSinkScript(): Promise<void> {
  const script = await sinkScript?.catch(() => undefined);
  if (script) rmSync(script, { force: true });
}

interface Sink {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function startSink(args: string[]): Promise<Sink> {
  const child: ChildProcess = spawn(process.execPath, [await buildSink(), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    const port = await new Promise<number>((res, rej) => {
      child.stdout?.once('data', (c: Buffer) => res((JSON.parse(c.toString()) as { port: number }).port));
      child.once('exit', (code) => rej(new Error(`transfer sink exited ${code}`)));
    });
    return { port, pid: child.pid as number, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The uploading side: `curl -T` (C, reads and sends), `node` (a plain node client: createReadStream piped into
 * http.request, the agent's socket buffer), `node-hash` (the same, sha256 of every byte on the way, as the agent's
 * sender must for its end-to-end check).
 */
export type Client = 'curl' | 'node' | 'node-hash';

/** PUTs the file to the sink; resolves with the sink's JSON answer and the client's CPU time. */
async function upload(
  client: Client,
  file: string,
  port: number,
): Promise<{ answer: Record<string, unknown>; clientCpu: CpuTime }> {
  const url = `http://127.0.0.1:${port}/`;
  if (client === 'curl') {
    // -T streams the file (--data-binary @file loads it whole: "out of memory" at 1 GiB in curl 7.88); the shell's
    // `times` reports curl's CPU time (its second line: children)
    const { stdout, stderr } = await run('sh', [
      '-c',
      'curl "$@" && times >&2',
      'sh',
      '-sS',
      '--fail-with-body',
      '-H',
      'Expect:',
      '-T',
      file,
      url,
    ]);
    const t = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(stderr.trim());
    const clientCpu = t
      ? { user: Number(t[1]) * 60 + Number(t[2]), sys: Number(t[3]) * 60 + Number(t[4]) }
      : { user: Number.NaN, sys: Number.NaN };
    return { answer: JSON.parse(stdout) as Record<string, unknown>, clientCpu };
  }
  const before = process.cpuUsage(); // this process does nothing else meanwhile
  const answer = await new Promise<Record<string, unknown>>((res, rej) => {
    const req = http.request(
      url,
      {
        method: 'PUT',
        highWaterMark: SOCKET_BUFFER, // passed on to the socket, like the agent's sender (upload.ts)
        headers: { 'content-length': statSync(file).size },
      } as http.RequestOptions,
      (r) => {
        let b = '';
        r.setEncoding('utf8').on('data', (c: string) => (b += c));
        r.on('end', () => (r.statusCode === 200 ? res(JSON.parse(b)) : rej(new Error(`sink answered ${b}`))));
      },
    );
    req.on('error', rej);
    const body = createReadStream(file, { highWaterMark: 1 << 20 });
    if (client === 'node-hash') {
      const hash = createHash('sha256');
      body.on('data', (c) => hash.update(c));
      body.on('end', () => hash.digest());
    }
    pipeline(body, req).catch(rej);
  });
  const used = process.cpuUsage(before);
  return { answer, clientCpu: { user: used.user / 1e6, sys: used.system / 1e6 } };
}

export interface SinkRun {
  seconds: number;
  sinkCpu: CpuTime;
  clientCpu: CpuTime;
  sinkPeakMiB: number;
  /** The sink's answer: bytes, and for hash-write sha256, hash_ms, fdatasync_ms. */
  answer: Record<string, unknown>;
}

/**
 * One upload of `file` from `client` into a fresh sink started with `args` (`['hash-write', dir]` or `['null']`).
 */
export async function sinkRun(file: string, client: Client, args: string[]): Promise<SinkRun> {
  const sink = await startSink(args);
  try {
    await ready(file);
    const before = cpuTime(sink.pid);
    const t = performance.now();
    const { answer, clientCpu } = await upload(client, file, sink.port);
    const seconds = (performance.now() - t) / 1000;
    const sinkCpu = cpuSince(before, cpuTime(sink.pid));
    if (answer.bytes !== statSync(file).size) throw new Error(`transfer sink got ${answer.bytes} bytes`);
    return { seconds, sinkCpu, clientCpu, sinkPeakMiB: vmHwmMiB(sink.pid), answer };
  } finally {
    await sink.stop();
  }
}

/** `dd if=<file> of=<dest> bs=4M conv=fdatasync`: seconds. The copy is removed after. */
export async function ddRun(file: string, dest: string): Promise<number> {
  await ready(file);
  const t = performance.now();
  try {
    await run('dd', [`if=${file}`, `of=${dest}`, 'bs=4M', 'conv=fdatasync', 'status=none']);
    return (performance.now() - t) / 1000;
  } finally {
    rmSync(dest, { force: true });
  }
}
