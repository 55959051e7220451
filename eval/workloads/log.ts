/**
 * JSON-lines logging for the workload processes: one object per line on stdout with pino's field names and
 * numeric levels (`{"level":30,"time":…,"name":"consumer","msg":"…",…}`), so pino tooling reads it, without
 * bundling pino into the images.
 */
import type { ConsumerLogger } from './consumer-lib/index.ts';

export const LOG_LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;

export const isLogLevel = (s: string): s is LogLevel => Object.hasOwn(LOG_LEVELS, s);

/**
 * @example
 * ```ts
 * const log = createJsonLogger({ name: 'producer', level: 'info' });
 * log.info({ rate: 10 }, 'Publishing');
 * ```
 */
export function createJsonLogger(opts: {
  name: string;
  level?: LogLevel;
  write?: (line: string) => void;
}): ConsumerLogger {
  const min = LOG_LEVELS[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stdout.write(line));
  const at =
    (level: Exclude<LogLevel, 'silent'>) =>
    (fields: object, msg: string): void => {
      if (LOG_LEVELS[level] < min) return;
      write(`${JSON.stringify({ level: LOG_LEVELS[level], time: Date.now(), name: opts.name, ...fields, msg })}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
