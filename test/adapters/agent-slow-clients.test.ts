import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentLimits } from '../../agent/context.ts';
import {
  type AgentNode,
  type AgentPair,
  putHead,
  type RawSocket,
  rawPut,
  rawSocket,
  runningTransfers,
  startAgentPair,
  tarOf,
  waitFor,
} from '../harness/agent.ts';

const h = { 'x-checkpoint-container': 'app', 'x-migration-id': 'default/slow' };
const tmpFiles = (n: AgentNode) => readdirSync(join(n.storeDir, 'tmp'));

/** Sends `body` one byte every `everyMs` until the socket closes or the body is out; resolves with bytes sent. */
function trickle(s: RawSocket, body: Buffer, everyMs: number): Promise<number> {
  return new Promise((resolve) => {
    let i = 0;
    const t = setInterval(() => {
      if (s.isClosed || i >= body.length) {
        clearInterval(t);
        resolve(i);
        return;
      }
      s.write(body.subarray(i, i + 1)).catch(() => undefined);
      i++;
    }, everyMs);
    void s.closed.then(() => {
      clearInterval(t);
      resolve(i);
    });
  });
}

describe('slow clients lose their transfer slot; the temp file goes with it', () => {
  let pair: AgentPair;
  let body: Buffer;
  let sha: string;
  const add = (name: string, limits: Partial<AgentLimits>) => pair.add(name, { maxConcurrentTransfers: 1, ...limits });
  /** The slot is free again: a normal upload of the same node is accepted. */
  async function slotReusable(node: AgentNode) {
    await waitFor('the slot to be freed', async () => (await runningTransfers(node.url, pair.token)) === 0);
    expect(tmpFiles(node)).toEqual([]);
    const r = await rawPut(node.url, { token: pair.token, body, headers: { ...h, 'x-checkpoint-sha256': sha } });
    expect(r).toMatchObject({ status: 201 });
  }

  beforeAll(async () => {
    pair = await startAgentPair();
    body = await tarOf([
      { name: 'config.dump', body: '{}' },
      { name: 'pages.img', body: 'p'.repeat(50_000) },
    ]);
    sha = createHash('sha256').update(body).digest('hex');
  });
  afterAll(async () => pair?.stop());

  it('a client sending a byte per second is cut after the grace by the rate floor (408 BODY_TOO_SLOW)', async () => {
    const node = await add('byte-per-second', {
      bodyGraceMs: 2_000,
      minBodyBytesPerSecond: 1024,
      bodyIdleMs: 30_000,
    });
    const s = await rawSocket(
      node.url,
      putHead({ token: pair.token, headers: { ...h, 'x-checkpoint-sha256': sha }, contentLength: body.length }),
    );
    const started = performance.now();
    const sending = trickle(s, body, 1000);
    await waitFor('the upload to hold the slot', async () => (await runningTransfers(node.url, pair.token)) === 1);
    const answer = await s.answer;
    const elapsed = performance.now() - started;
    expect(answer).toMatchObject({ status: 408, body: { code: 'BODY_TOO_SLOW' } });
    expect(elapsed).toBeGreaterThanOrEqual(2_000);
    expect(elapsed).toBeLessThan(10_000);
    await s.closed; // the agent closes the connection after the answer
    expect(await sending).toBeLessThan(12);
    await slotReusable(node);
  });

  it('a client that stops sending is cut by the idle limit (408 BODY_IDLE_TIMEOUT), its partial file removed', async () => {
    const node = await add('stalled', { bodyIdleMs: 400, bodyGraceMs: 60_000 });
    const s = await rawSocket(
      node.url,
      putHead({ token: pair.token, headers: { ...h, 'x-checkpoint-sha256': sha }, contentLength: body.length }),
    );
    await s.write(body.subarray(0, 20_000));
    await waitFor(
      'the partial upload to hold the slot',
      async () => (await runningTransfers(node.url, pair.token)) === 1,
    );
    expect(await s.answer).toMatchObject({ status: 408, body: { code: 'BODY_IDLE_TIMEOUT' } });
    await slotReusable(node);
  });

  it('a chunked upload (no length) that stalls is cut the same way', async () => {
    const node = await add('stalled-chunked', { bodyIdleMs: 400 });
    const s = await rawSocket(node.url, putHead({ token: pair.token, headers: h }));
    await s.write(`2000\r\n${body.subarray(0, 0x2000).toString('latin1')}\r\n`);
    expect(await s.answer).toMatchObject({ status: 408, body: { code: 'BODY_IDLE_TIMEOUT' } });
    await slotReusable(node);
  });

  it('a client fast enough for the floor but past the total cap is cut (maxBodyMs)', async () => {
    const node = await add('capped', { maxBodyMs: 800, bodyIdleMs: 30_000, bodyGraceMs: 60_000 });
    const s = await rawSocket(
      node.url,
      putHead({ token: pair.token, headers: { ...h, 'x-checkpoint-sha256': sha }, contentLength: body.length }),
    );
    const sending = (async () => {
      for (let i = 0; i < body.length && !s.isClosed; i += 512) {
        await s.write(body.subarray(i, i + 512)).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50)); // ~10 KiB/s: a steady client, just slow
      }
    })();
    expect(await s.answer).toMatchObject({
      status: 408,
      body: { code: 'BODY_TOO_SLOW', message: expect.stringMatching(/limit is 800 ms/) },
    });
    await sending;
    await slotReusable(node);
  });

  it('a slow client above the floor is never cut', async () => {
    const node = await add('honest', { bodyGraceMs: 300, minBodyBytesPerSecond: 20_000, bodyIdleMs: 1_000 });
    const s = await rawSocket(
      node.url,
      putHead({ token: pair.token, headers: { ...h, 'x-checkpoint-sha256': sha }, contentLength: body.length }),
    );
    for (let i = 0; i < body.length; i += 4096) {
      await s.write(body.subarray(i, i + 4096));
      await new Promise((r) => setTimeout(r, 40)); // ~100 KiB/s: 5x the floor, 1.5 s in all (5x the grace)
    }
    expect(await s.answer).toMatchObject({ status: 201, body: { sha256: sha } });
    s.destroy();
  });

  it('a slow JSON body on /v1/send (a transfer route) frees its slot after the idle limit', async () => {
    const node = await add('slow-json', { bodyIdleMs: 400 });
    const head = `POST /v1/send HTTP/1.1\r\nhost: agent\r\nauthorization: Bearer ${pair.token}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"checkpointPath":`;
    const s = await rawSocket(node.url, head);
    await waitFor('the send to hold the slot', async () => (await runningTransfers(node.url, pair.token)) === 1);
    await s.closed;
    await slotReusable(node);
  });

  it('headers sent a byte at a time (slowloris) are cut by headersTimeoutMs; no slot is ever taken', async () => {
    const node = await add('slowloris', { headersTimeoutMs: 600 });
    const s = await rawSocket(node.url, 'PUT /v1/checkpoints HTTP/1.1\r\nhost: agent\r\n');
    const started = performance.now();
    const sending = trickle(s, Buffer.from(`authorization: Bearer ${pair.token}\r\nx-a: ${'b'.repeat(100)}\r\n`), 100);
    expect(await runningTransfers(node.url, pair.token)).toBe(0);
    const answer = await s.answer;
    expect(answer === 'closed' || answer.status === 408).toBe(true);
    expect(performance.now() - started).toBeLessThan(5_000);
    await sending;
    await slotReusable(node);
  });
});
