import { directCheckpointImage } from '../adapters/agent-client/port.ts';
import type { TransferResultWire } from './agent.wire.ts';
import type { AgentContext } from './context.ts';
import { imageUnverified } from './errors.ts';
import type { LoadRequest } from './loader.ts';
import type { CheckpointTx, StoredCheckpoint, StoredImage } from './store.ts';

/**
 * The image of stored archive `e` for `container`, inside the digest's lock (`tx`). An image recorded earlier is
 * answered only after the loader has verified it still holds exactly this archive for this container; otherwise
 * it is built (again). The answer is therefore true by construction: its name is derived from the digest, and the
 * content under that name was checked against the digest.
 *
 * The same archive announced for another container gets its own image (same layer, another manifest naming that
 * container): a checkpoint's bytes do not depend on the name the new pod gives its container, and answering with
 * the other container's image (the old bug) or refusing (409) would both be wrong.
 *
 * @example
 * ```ts
 * const r = await ctx.store.exclusive(sha, async (tx) => imageFor(ctx, tx, (await tx.get())!, 'app', 'default/m1'));
 * ```
 */
export async function imageFor(
  ctx: AgentContext,
  tx: CheckpointTx,
  e: StoredCheckpoint,
  container: string,
  migrationId: string,
): Promise<TransferResultWire> {
  const want = directCheckpointImage(container, e.sha256);
  const req: LoadRequest = { archivePath: e.path, container, sha256: e.sha256, bytes: e.bytes };
  const have = e.images.find((i) => i.container === container);
  let img: StoredImage | undefined;
  if (have) {
    const problem = await ctx.loader.verify(req, have);
    if (problem === null) img = have;
    else ctx.logger.warn({ image: have.image, problem }, 'Rebuilding checkpoint image that failed verification');
  }
  if (!img) {
    const loaded = await ctx.loader.load(req);
    if (loaded.image !== want) throw imageUnverified(loaded.image, `the loader named it differently from ${want}`);
    img = { ...loaded, container, loadedAt: new Date(ctx.store.now()).toISOString() };
    ctx.logger.info({ image: img.image, via: img.via, migrationId }, 'Loaded checkpoint image');
  }
  e.images = [...e.images.filter((i) => i.container !== container), img];
  if (!e.migrationIds.includes(migrationId)) e.migrationIds.push(migrationId);
  await tx.save(e);
  return { image: img.image, bytes: e.bytes, sha256: e.sha256 };
}

/** The image for an archive already stored, or null when the archive is not here (the caller must send it). */
export function storedImage(
  ctx: AgentContext,
  sha256: string,
  container: string,
  migrationId: string,
): Promise<TransferResultWire | null> {
  return ctx.store.exclusive(sha256, async (tx) => {
    const e = await tx.get();
    return e ? imageFor(ctx, tx, e, container, migrationId) : null;
  });
}

/**
 * Deletes an archive with its images (unloaded from the runtime too: they hold process memory and secrets).
 * With `unusedSince`, only when it was not used after that time (checked under the lock, so a GC never removes an
 * archive an answer just named).
 */
export function removeCheckpoint(ctx: AgentContext, sha256: string, unusedSince?: number): Promise<boolean> {
  return ctx.store.exclusive(sha256, async (tx) => {
    const e = await tx.get();
    if (!e) return false;
    if (unusedSince !== undefined && Date.parse(e.lastUsedAt) > unusedSince) return false;
    for (const img of e.images) await ctx.loader.unload(img);
    await tx.remove();
    return true;
  });
}

/** Removes archives not used for `olderThanMs`, then what a crash left behind. Returns how many were removed. */
export async function gcCheckpoints(ctx: AgentContext, olderThanMs: number): Promise<number> {
  const cutoff = ctx.store.now() - olderThanMs;
  let removed = 0;
  for (const e of await ctx.store.list())
    if (Date.parse(e.lastUsedAt) <= cutoff && (await removeCheckpoint(ctx, e.id, cutoff))) removed++;
  await ctx.store.sweep();
  return removed;
}
