import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import {
  ContainerName,
  HEADER_CONTAINER,
  HEADER_MIGRATION,
  HEADER_SHA256,
  MigrationId,
  Sha256Hex,
  type TransferResultWire,
} from './agent.wire.ts';
import type { AgentContext } from './context.ts';
import { badRequest, digestMismatch, tooLarge } from './errors.ts';
import { sendJson } from './http-io.ts';
import { ReceiveSink } from './receive-sink.ts';
import type { StoredCheckpoint } from './store.ts';

/**
 * PUT /v1/checkpoints: receives a checkpoint tar as a raw streamed body. The sha256 comes in the
 * `X-Checkpoint-Sha256` header or trailer; the bytes are hashed, size-limited and tar-checked while they stream
 * into a temp file in the store, which is fsynced and renamed only when all checks pass, then loaded as
 * `localhost/checkpoint/<ctr>:latest`. A known sha256 is a no-op with the same answer.
 */
export async function receiveCheckpoint(ctx: AgentContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const announced = header(req, HEADER_SHA256);
  const container = ContainerName.safeParse(header(req, HEADER_CONTAINER));
  const migration = MigrationId.safeParse(header(req, HEADER_MIGRATION));
  if (!container.success) throw badRequest(`Header ${HEADER_CONTAINER} must be a container name (DNS-1123 label)`);
  if (!migration.success) throw badRequest(`Header ${HEADER_MIGRATION} must be a migration id`);
  if (announced !== undefined && !Sha256Hex.safeParse(announced).success)
    throw badRequest(`Header ${HEADER_SHA256} must be 64 lowercase hex`);
  const max = ctx.limits.maxBodyBytes;
  const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (length !== undefined && length > max) throw tooLarge(max);

  if (announced) {
    const existing = await ctx.store.get(announced);
    if (existing) return void sendJson(res, 200, await ensureLoaded(ctx, existing), !req.complete);
  }

  const tmp = ctx.store.tempPath();
  const t = ctx.transfers.begin('receive', migration.data, length ?? 0);
  const meter = new ReceiveSink(tmp, {
    maxBytes: max,
    tar: ctx.limits.tar,
    onBytes: (n) => t.progress(n),
    gc: ctx.minorGc,
  });
  try {
    await pipeline(req, meter);
    const expected = announced ?? (req.trailers[HEADER_SHA256] as string | undefined);
    if (!expected || !Sha256Hex.safeParse(expected).success)
      throw badRequest(`Checkpoint sha256 missing: send ${HEADER_SHA256} as a header or trailer`);
    const actual = meter.sha256();
    if (actual !== expected) throw digestMismatch(expected, actual);
    const entry = await ctx.store.commit(tmp, {
      sha256: actual,
      bytes: meter.bytes,
      container: container.data,
      migrationId: migration.data,
    });
    const result = await ensureLoaded(ctx, entry);
    ctx.logger.info(
      { sha256: actual, bytes: meter.bytes, container: container.data, migrationId: migration.data },
      'Received checkpoint',
    );
    sendJson(res, 201, result);
  } finally {
    t.end();
    await rm(tmp, { force: true });
  }
}

async function ensureLoaded(ctx: AgentContext, e: StoredCheckpoint): Promise<TransferResultWire> {
  if (!e.image) {
    const loaded = await ctx.loader.load({
      archivePath: e.path,
      container: e.container,
      sha256: e.sha256,
      bytes: e.bytes,
    });
    e.image = loaded.image;
    e.layoutDir = loaded.layoutDir;
    await ctx.store.update(e);
  }
  return { image: e.image, bytes: e.bytes, sha256: e.sha256 };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
