/**
 * Resolves on the first SIGTERM or SIGINT (the long-running commands, `operator` and `agent`, then stop
 * cleanly and exit 0). The handlers are removed once it resolves.
 *
 * @example
 * ```ts
 * await untilSignal();
 * await server.stop();
 * ```
 */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
