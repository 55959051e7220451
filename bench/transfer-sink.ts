// Child process of bench/transfer.bench.ts: an HTTP server on loopback that receives uploads the way the least a
// checkpoint receiver must do it, so the agent is compared with a fair floor, not with a sink that drops the bytes.
//   node transfer-sink.mjs hash-write <dir>   sha256 of every byte, written to a new file in <dir> (the filesystem
//                                             of the agent's store), fdatasync at the end, file removed after
//   node transfer-sink.mjs null               counts the bytes and drops them (the old curl baseline)
// Prints {"port":N} on stdout once listening. Each request is answered with JSON
// {bytes, sha256?, hash_ms?, fdatasync_ms?}. Same socket buffer as the agent (SOCKET_BUFFER).
// Writes go through fs.WriteStream, which gathers the chunks queued while a write runs into one writev: no
// tar check, size or time limits, temp-file naming, rename or metadata, which the agent also does.
import { createHash } from 'node:crypto';
import { close, createWriteStream, fdatasync, open } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { SOCKET_BUFFER } from '../agent/context.ts';

const [mode, dir] = process.argv.slice(2);
if (mode !== 'null' && !(mode === 'hash-write' && dir)) {
  process.stderr.write('usage: transfer-sink (hash-write <dir> | null)\n');
  process.exit(2);
}
let seq = 0;

async function hashWrite(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const path = join(dir as string, `upload-${process.pid}-${seq++}`);
  // a plain fd: a FileHandle's close() waits for a stream made with autoClose false to close, which it never does
  const fd = await promisify(open)(path, 'w', 0o600);
  try {
    const hash = createHash('sha256');
    let bytes = 0;
    let hashMs = 0;
    req.on('data', (c: Buffer) => {
      const t = performance.now();
      hash.update(c);
      hashMs += performance.now() - t;
      bytes += c.length;
    });
    await pipeline(req, createWriteStream('', { fd, autoClose: false, highWaterMark: SOCKET_BUFFER }));
    const t = performance.now();
    await promisify(fdatasync)(fd);
    const fdatasyncMs = performance.now() - t;
    return { bytes, sha256: hash.digest('hex'), hash_ms: Math.round(hashMs), fdatasync_ms: Math.round(fdatasyncMs) };
  } finally {
    await promisify(close)(fd);
    await rm(path, { force: true });
  }
}

async function drop(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let bytes = 0;
  for await (const c of req) bytes += (c as Buffer).length;
  return { bytes };
}

const server = http.createServer({ highWaterMark: SOCKET_BUFFER }, (req, res) => {
  (mode === 'null' ? drop(req) : hashWrite(req)).then(
    (r) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(r)),
    (err: Error) => res.writeHead(500).end(err.message),
  );
});
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
