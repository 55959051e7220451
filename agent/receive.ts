import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ContainerName,
  HEADER_CONTAINER,
  HEADER_MIGRATION,
  HEADER_SHA256,
  MigrationId,
  Sha256Hex,
} from './agent.wire.ts';
import { pipeBody } from './body-deadline.ts';
import { imageFor, storedImage } from './checkpoint-images.ts';
import type { AgentContext } from './context.ts';
import { badRequest, digestMismatch, notFound, tooLarge } from './errors.ts';
import { answerUnread, sendJson } from './http-io.ts';
import { ReceiveSink } from './receive-sink.ts';

function loadTarget(req: IncomingMessage): { container: string; migrationId: string } {
  const container = ContainerName.safeParse(header(req, HEADER_CONTAINER));
  const migration = MigrationId.safeParse(header(req, HEADER_MIGRATION));
  if (!container.success) throw badRequest(`Header ${HEADER_CONTAINER} must be a container name (DNS-1123 label)`);
  if (!migration.success) throw badRequest(`Header ${HEADER_MIGRATION} must be a migration id`);
  return { container: container.data, migrationId: migration.data };
}

/**
 * PUT /v1/checkpoints: receives a checkpoint tar as a raw streamed body. The sha256 comes in the
 * `X-Checkpoint-Sha256` header or trailer; the bytes are hashed, size- and time-limited and tar-checked while they
 * stream into a unique temp file in the store, which is fsynced and renamed to `archives/<sha256>.tar` only when all
 * checks pass, then loaded as `localhost/checkpoint/<ctr>:sha256-<sha256>`. An announced sha256 the store already
 * holds is answered without reading the body (200), with the image for the container named in this request.
 * Concurrent uploads never conflict: each streams to its own temp file; storing and loading run under the digest's
 * lock, and the second upload of the same bytes finds the first one's archive.
 */
export async function receiveCheckpoint(ctx: AgentContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const announced = header(req, HEADER_SHA256);
  const { container, migrationId } = loadTarget(req);
  if (announced !== undefined && !Sha256Hex.safeParse(announced).success)
    throw badRequest(`Header ${HEADER_SHA256} must be 64 lowercase hex`);
  const max = ctx.limits.maxBodyBytes;
  const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (length !== undefined && length > max) throw tooLarge(max);

  if (announced) {
    const known = await storedImage(ctx, announced, container, migrationId);
    if (known) return void answerUnread(req, res, 200, known);
  }

  const tmp = ctx.store.tempPath();
  const t = ctx.transfers.begin('receive', migrationId, length ?? 0);
  const sink = new ReceiveSink(tmp, {
    maxBytes: max,
    tar: ctx.limits.tar,
    onBytes: (n) => {
      t.progress(n);
      body.bytes(n);
    },
    gc: ctx.minorGc,
  });
  const body = pipeBody(req, sink, ctx.limits, () => performance.now()); // real time, whatever clock the store uses
  let answer: { status: number; result: unknown };
  try {
    await body.done;
    const expected = announced ?? (req.trailers[HEADER_SHA256] as string | undefined);
    if (!expected || !Sha256Hex.safeParse(expected).success)
      throw badRequest(`Checkpoint sha256 missing: send ${HEADER_SHA256} as a header or trailer`);
    const actual = sink.sha256();
    if (actual !== expected) throw digestMismatch(expected, actual);
    const { result, created } = await ctx.store.exclusive(actual, async (tx) => {
      const existing = await tx.get();
      const e = existing ?? (await tx.commit(tmp, { bytes: sink.bytes, container, migrationId }));
      return { result: await imageFor(ctx, tx, e, container, migrationId), created: !existing };
    });
    ctx.logger.info({ sha256: actual, bytes: sink.bytes, container, migrationId, created }, 'Received checkpoint');
    answer = { status: created ? 201 : 200, result };
  } finally {
    t.end();
    await rm(tmp, { force: true }); // before answering: a client that saw the answer sees a clean store
  }
  sendJson(res, answer.status, answer.result);
}

/**
 * PUT /v1/checkpoints/{sha256}/images/{container} (header `X-Migration-Id`): the image of an archive this agent
 * already holds, for that container (built if needed). 404 when the archive is not here: send it with PUT
 * /v1/checkpoints. A sender that knows its archive's digest asks this first instead of streaming it again.
 */
export async function loadStoredCheckpoint(
  ctx: AgentContext,
  req: IncomingMessage,
  res: ServerResponse,
  sha256: string,
  container: string,
): Promise<void> {
  if (!Sha256Hex.safeParse(sha256).success) throw badRequest(`Checkpoint id "${sha256.slice(0, 80)}" is not a sha256`);
  const c = ContainerName.safeParse(container);
  if (!c.success) throw badRequest(`Container "${container.slice(0, 80)}" is not a container name (DNS-1123 label)`);
  const m = MigrationId.safeParse(header(req, HEADER_MIGRATION));
  if (!m.success) throw badRequest(`Header ${HEADER_MIGRATION} must be a migration id`);
  const r = await storedImage(ctx, sha256, c.data, m.data);
  if (!r) throw notFound(`Checkpoint ${sha256} on this node`);
  sendJson(res, 200, r);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
