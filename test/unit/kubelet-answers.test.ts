import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../adapters/errors.ts';
import { createKubeletClient, grpcStatusCode, type KubeletFetch } from '../../adapters/kubelet/kubelet.ts';

const answering =
  (status: number, body: string): KubeletFetch =>
  async () => ({ status, body });
const checkpoint = (status: number, body: string) =>
  createKubeletClient({ server: 'https://10.0.0.1:6443', fetch: answering(status, body) })
    .checkpoint({ node: 'node-a', namespace: 'default', pod: 'app-0', container: 'app', timeoutSeconds: 30 })
    .catch((e: unknown) => e);

describe('kubelet answers are told apart by HTTP status and the runtime gRPC code, not message text', () => {
  it('a runtime DeadlineExceeded is a transient checkpoint timeout', async () => {
    const body =
      'checkpointing of default/app-0/app failed (rpc error: code = DeadlineExceeded desc = context deadline exceeded)';
    expect(grpcStatusCode(body)).toBe('DeadlineExceeded');
    expect(await checkpoint(500, body)).toMatchObject({ code: ErrorCode.CHECKPOINT_TIMEOUT, transient: true });
  });

  it('a runtime error whose text merely says "timed out" is a failed checkpoint, kept verbatim', async () => {
    const body =
      'checkpointing of default/app-0/app failed (rpc error: code = Unknown desc = criu failed: write timed out)';
    expect(grpcStatusCode(body)).toBe('Unknown');
    const err = await checkpoint(500, body);
    expect(err).toMatchObject({ code: ErrorCode.CHECKPOINT_FAILED, transient: false });
    expect((err as { runtimeMessage: string }).runtimeMessage).toBe(body);
  });

  it.each([
    [404, ErrorCode.CHECKPOINT_UNSUPPORTED],
    [403, ErrorCode.CHECKPOINT_FORBIDDEN],
    [504, ErrorCode.CHECKPOINT_TIMEOUT],
    [503, ErrorCode.UNAVAILABLE],
  ])('HTTP %i -> %s', async (status, code) => {
    expect(await checkpoint(status, 'body')).toMatchObject({ code });
  });

  it('no gRPC status in a body is no code', () => {
    expect(grpcStatusCode('404 page not found')).toBeUndefined();
  });
});
