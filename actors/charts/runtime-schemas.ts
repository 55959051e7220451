/**
 * The schemas every chart's catalogue shares: the data of the facts the runtime records by itself
 * (machines/chart.ts RuntimeEventData), and the compile-time check that a chart's schemas match its event data.
 */
import { z } from 'zod';

/** Schemas of StepFailed, DeadlineExceeded and CancelRequested for a chart's steps and active phases. */
export const runtimeEventSchemas = <TStep extends z.ZodType<string>, TPhase extends z.ZodType<string>>(
  step: TStep,
  activePhase: TPhase,
) => ({
  StepFailed: z.object({
    step,
    code: z.string().min(1),
    message: z.string(),
    transient: z.boolean(),
    attempt: z.number().int().positive(),
  }),
  DeadlineExceeded: z.object({ phase: activePhase }),
  CancelRequested: z.object({ reason: z.string() }),
});

type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * Compiles only when every event type's schema output is exactly the machine's data type (both directions):
 * `SchemasMatch<typeof schemas, EventData>` is `true`, else `false` and the `extends true` below refuses it.
 * Use: `type _ = Checked<SchemasMatch<typeof schemas, EventData>>`.
 */
export type SchemasMatch<TSchemas extends { [K in keyof TData]: z.ZodType }, TData> = {
  [K in keyof TData]-?: Exact<z.infer<TSchemas[K]>, TData[K]>;
}[keyof TData];

/** A type that exists only for `true`: the compile-time assertion of {@link SchemasMatch}. */
export type Checked<T extends true> = T;
