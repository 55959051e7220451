/**
 * The logger the library writes to: the `(fields, message)` calls of pino, so a pino logger fits as is.
 *
 * @example
 * ```ts
 * const consumer = new MigratableConsumer({ ..., logger: pino() });
 * ```
 */
export interface ConsumerLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const ignore = (): void => {};

/** Drops everything (the default). */
export const silentLogger: ConsumerLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
