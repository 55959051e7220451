/**
 * `--inspect`: the Stately inspector (`@statelyai/inspect`) attached to the live actors. Its WebSocket inspector
 * sends every actor, event and snapshot of the running migrations to a WebSocket server (default
 * ws://127.0.0.1:8080), which relays them to the Stately inspector page in a browser (docs/ui.md). It needs no
 * internet on the operator's side; createSkyInspector (stately.ai's relay) is not used. Inspection only watches:
 * it never changes a migration, and a missing server only means the events are not seen (it reconnects every 5 s,
 * keeping the last events meanwhile).
 */
import { createWebSocketInspector } from '@statelyai/inspect';
import type { Logger } from 'pino';
import type { InspectOption } from './host.ts';

export const DEFAULT_INSPECT_URL = 'ws://127.0.0.1:8080';

export interface Inspection {
  /** xstate's `inspect` option for the hosts (operator `inspect`, Host `inspect`). */
  inspect: NonNullable<InspectOption>;
  url: string;
  stop(): void;
}

/**
 * Connects the Stately WebSocket inspector to `url`.
 *
 * @example
 * ```ts
 * const inspection = startInspection('ws://127.0.0.1:8080', logger);
 * const operator = createOperator({ ...deps, inspect: inspection.inspect });
 * ```
 */
export function startInspection(url: string, logger: Logger): Inspection {
  if (!/^wss?:\/\//.test(url))
    throw new TypeError(`--inspect ${url}: give a WebSocket URL, e.g. ${DEFAULT_INSPECT_URL}`);
  const inspector = createWebSocketInspector({
    url,
    // the pod specs in a migration's context are large and not what one inspects the chart for
    // (the effects' promise actors have no context)
    sanitizeContext: (ctx) => {
      if (typeof ctx !== 'object' || ctx === null) return ctx;
      const { source, ...rest } = ctx as Record<string, unknown>;
      return source
        ? { ...rest, source: { ...(source as Record<string, unknown>), podSpec: '…', containers: '…' } }
        : rest;
    },
  });
  logger.info({ url }, 'Stately inspector: sending the live actors to this WebSocket');
  return { inspect: inspector.inspect as NonNullable<InspectOption>, url, stop: () => inspector.stop() };
}
