/**
 * An agent that dies in the middle of its answer (SIGKILLed, restarted by its DaemonSet) breaks the HTTP response
 * off. Found on the real cluster (test/e2e/cluster/failures.test.ts): the client let Node's bare `aborted` error
 * through, and the migration failed for good with "Step transferCheckpoint failed (INTERNAL): aborted", naming
 * neither the agent nor its node. It is the agent becoming unavailable, like a refused connection: transient, and
 * the message names the agent's node.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentClient } from '../../adapters/agent-client/agent-client.ts';
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';

let server: http.Server;
let url: string;

beforeAll(async () => {
  // answers the head and part of the body, then the process "dies": the socket is destroyed
  server = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/v1/send') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ type: 'progress', bytesTransferred: 1048576, bytesTotal: 80e6 })}\n`);
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"items":[');
    }
    setTimeout(() => res.socket?.destroy(), 50);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function rejection(p: Promise<unknown>): Promise<Ms2mError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Ms2mError);
  return err as Ms2mError;
}

describe('an agent answer that breaks off', () => {
  const agents = () => createAgentClient({ resolve: () => url, token: 't' });

  it('during a transfer: UNAVAILABLE, transient, naming the agent of the source node; the progress before it was reported', async () => {
    const progress: number[] = [];
    const err = await rejection(
      agents().send(
        {
          sourceNode: 'node-a',
          targetNode: 'node-b',
          checkpointPath: '/ckpt.tar',
          container: 'c',
          migrationId: 'ns/m/u',
          key: 'ns/m/u:transferCheckpoint',
        },
        (p) => progress.push(p.bytesTransferred),
      ),
    );
    expect(err.code).toBe(ErrorCode.UNAVAILABLE);
    expect(err.transient).toBe(true);
    expect(err.message).toMatch(/^Agent on node node-a unavailable: its answer to the transfer broke off \(/);
    expect(progress).toEqual([1048576]);
  });

  it('during a JSON answer: UNAVAILABLE, transient, naming the node', async () => {
    const err = await rejection(agents().list('node-b'));
    expect(err.code).toBe(ErrorCode.UNAVAILABLE);
    expect(err.transient).toBe(true);
    expect(err.message).toMatch(/^Agent on node node-b unavailable: its answer to the request broke off/);
  });
});
