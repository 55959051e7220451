import { describe, expect, it } from 'vitest';
import { endReplay } from '../../actors/effects/replay-queue.ts';
import { need, required } from '../../actors/effects/required-context.ts';
import { ErrorCode } from '../../adapters/errors.ts';
import { initialContext } from '../../machines/context.ts';
import { scenario } from '../support/scenario.ts';

describe('context an effect needs fails clearly when it is missing', () => {
  const s = scenario();
  const ctx = { ...initialContext({ migrationId: s.migrationId, spec: s.spec, at: 0 }), phase: 'Finalizing' as const };

  it('need() names the migration, the field and the phase', () => {
    expect(() => need(ctx, 'targetPod')).toThrow(
      expect.objectContaining({
        code: ErrorCode.MISSING_CONTEXT,
        transient: false,
        message: expect.stringMatching(/^Migration default\/m1: targetPod is not known at Finalizing;/),
      }),
    );
    expect(need({ ...ctx, targetPod: 'consumer-shadow' }, 'targetPod')).toBe('consumer-shadow');
    expect(() => required(ctx, 'source.owner.name', ctx.source?.owner.name)).toThrow(
      /source\.owner\.name is not known/,
    );
    expect(required(ctx, 'originalReplicas', 0)).toBe(0); // 0 is a value, not a missing one
  });

  it('an effect run without the fact it depends on fails with MISSING_CONTEXT instead of a TypeError', async () => {
    const run = endReplay(
      { step: 'endReplay', key: `${s.migrationId}:endReplay`, attempt: 1, ctx },
      { deps: s.deps, emit: async () => undefined, signal: new AbortController().signal },
    );
    await expect(run).rejects.toMatchObject({ code: ErrorCode.MISSING_CONTEXT, details: { field: 'targetPod' } });
    expect(s.world.journal.entries).toEqual([]);
  });
});
