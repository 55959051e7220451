import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentNode,
  type AgentPair,
  putHead,
  rawPut,
  rawSocket,
  rawTar,
  runningTransfers,
  startAgentPair,
  tarOf,
  waitFor,
  writeRandomTar,
} from '../harness/agent.ts';

describe('agent HTTP edges', () => {
  let pair: AgentPair;
  let node: AgentNode;
  const logs: Record<string, unknown>[] = [];
  beforeAll(async () => {
    pair = await startAgentPair();
    node = await pair.add('logged', { maxBodyBytes: 64 << 20 }, { logs });
  });
  afterAll(async () => pair?.stop());
  const healthz = (authorization: string) =>
    fetch(`${node.url}/v1/healthz`, { headers: { authorization } }).then((r) => r.status);

  it('the Bearer scheme is case-insensitive (RFC 7235); the token is not', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR'])
      expect(await healthz(`${scheme} ${pair.token}`)).toBe(200);
    expect(await healthz(`Bearer   ${pair.token}`)).toBe(200); // 1*SP
    expect(await healthz(`Bearer ${pair.token.toUpperCase()}`)).toBe(401);
    expect(await healthz(`Basic ${pair.token}`)).toBe(401);
    expect(await healthz(`Bearer${pair.token}`)).toBe(401);
    expect(await healthz('Bearer ')).toBe(401);
    expect(await healthz(`Bearer ${pair.token} extra`)).toBe(401);
    expect(await healthz(pair.token)).toBe(401);
  });

  it('a client that aborts an upload is logged at info level as abandoned, never as an INTERNAL error', async () => {
    const path = join(node.checkpointsDir, 'abort.tar');
    await writeRandomTar(path, 4 << 20);
    const body = readFileSync(path);
    const sha = createHash('sha256').update(body).digest('hex');
    const before = logs.length;
    const s = await rawSocket(
      node.url,
      putHead({
        token: pair.token,
        contentLength: body.length,
        headers: { 'x-checkpoint-sha256': sha, 'x-checkpoint-container': 'app', 'x-migration-id': 'default/a' },
      }),
    );
    await s.write(body.subarray(0, 1 << 20));
    await waitFor('the upload to hold the slot', async () => (await runningTransfers(node.url, pair.token)) === 1);
    s.destroy();
    await waitFor('the abandoned upload to be logged', () =>
      logs.slice(before).some((l) => l.msg === 'Agent request abandoned by the client'),
    );
    const mine = logs.slice(before);
    expect(mine.filter((l) => (l.level as number) >= 50)).toEqual([]);
    expect(mine.find((l) => l.msg === 'Agent request abandoned by the client')).toMatchObject({
      level: 30,
      code: 'CLIENT_CLOSED_REQUEST',
      status: 499,
    });
    await waitFor('the slot to be freed', async () => (await runningTransfers(node.url, pair.token)) === 0);
    expect(readdirSync(join(node.storeDir, 'tmp'))).toEqual([]);
  });

  it('a caller that goes away from a send stream is logged at info level, not as a failed transfer', async () => {
    await writeRandomTar(join(node.checkpointsDir, 'send.tar'), 32 << 20);
    const before = logs.length;
    const ac = new AbortController();
    const res = await fetch(`${node.url}/v1/send`, {
      method: 'POST',
      signal: ac.signal,
      headers: { authorization: `Bearer ${pair.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        checkpointPath: join(node.checkpointsDir, 'send.tar'),
        container: 'app',
        migrationId: 'default/s',
        targetUrl: pair.b.url,
      }),
    });
    const reader = res.body?.getReader();
    await reader?.read(); // the first progress line: the transfer runs
    ac.abort();
    await waitFor('the abandoned transfer to be logged', () =>
      logs.slice(before).some((l) => l.msg === 'Transfer abandoned by the caller'),
    );
    expect(logs.slice(before).filter((l) => (l.level as number) >= 40)).toEqual([]);
  });

  it('an upload rejected mid-body is answered (422), not reset, while the client is still sending', async () => {
    const evil = rawTar([{ name: '../escape', body: 'x' }]);
    const body = Buffer.concat([evil.subarray(0, evil.length - 1024), Buffer.alloc(8 << 20)]);
    const r = await rawPut(node.url, {
      token: pair.token,
      body,
      headers: {
        'x-checkpoint-sha256': '0'.repeat(64),
        'x-checkpoint-container': 'app',
        'x-migration-id': 'default/e',
      },
    });
    expect(r).toMatchObject({ status: 422, body: { code: 'UNSAFE_TAR' } });
    await waitFor('the slot to be freed', async () => (await runningTransfers(node.url, pair.token)) === 0);
    expect(readdirSync(join(node.storeDir, 'tmp'))).toEqual([]);
  });

  it('a malformed percent-encoding in a path is a 400, not a 500', async () => {
    const r = await fetch(`${node.url}/v1/checkpoints/%E0%A4%A`, {
      headers: { authorization: `Bearer ${pair.token}` },
    });
    expect(r.status).toBe(400);
  });

  it('an upload of a checkpoint that is fine is still accepted through all of this', async () => {
    const body = await tarOf([{ name: 'config.dump', body: '{}' }]);
    const sha = createHash('sha256').update(body).digest('hex');
    const r = await rawPut(node.url, {
      token: pair.token,
      body,
      trailerSha256: sha,
      headers: { 'x-checkpoint-container': 'app', 'x-migration-id': 'default/ok' },
    });
    expect(r).toMatchObject({ status: 201, body: { sha256: sha } });
  });
});
