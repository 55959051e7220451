import type { Logger } from 'pino';
import type { Registry } from '../adapters/oci/port.ts';
import type { ImageLoader } from './loader.ts';
import type { PredumpControl } from './predump.ts';
import type { CheckpointStore } from './store.ts';
import type { TarLimits } from './tar-safety.ts';
import type { Transfers } from './transfers.ts';

/**
 * Socket and request buffer of the agent's connections (bytes). The default 16 KiB pauses the socket after every
 * 64 KiB read of an upload; a few MiB keep it reading while the hash and the disk catch up, bounded per connection.
 */
export const SOCKET_BUFFER = 2 * 1024 * 1024;

export interface AgentLimits {
  /** Largest checkpoint body accepted (bytes). */
  maxBodyBytes: number;
  /** Transfers (receive, send, push) running at once; more answer 429. */
  maxConcurrentTransfers: number;
  /** Optional bandwidth cap for outgoing sends (bytes/s). */
  bytesPerSecond?: number;
  tar: TarLimits;
  /** A request body that sends no byte for this long (while the agent is reading) is dropped: 408, slot freed. */
  bodyIdleMs: number;
  /**
   * Rate floor: once `bodyGraceMs` has passed, a body must have averaged at least `minBodyBytesPerSecond` since it
   * started, i.e. it is dropped when `elapsed > bodyGraceMs + received / minBodyBytesPerSecond`. A byte-per-second
   * client loses its slot after about the grace; an honest 64 GiB upload at the floor rate is never cut.
   */
  bodyGraceMs: number;
  minBodyBytesPerSecond: number;
  /** Hard cap on one request body's duration, whatever its rate (ms). */
  maxBodyMs: number;
  /** Time a client has to send the request line and headers (slowloris), `server.headersTimeout` (ms). */
  headersTimeoutMs: number;
  /** Archives and images not used for this long are removed by the periodic GC (ms; 0 = no periodic GC). */
  gcMaxAgeMs: number;
}

/** What the request handlers share. */
export interface AgentContext {
  logger: Logger;
  store: CheckpointStore;
  loader: ImageLoader;
  registry: Registry;
  predump: PredumpControl;
  limits: AgentLimits;
  token: string;
  /** Folders a send/push may read from (the kubelet checkpoints dir and the store's archives). */
  readableRoots: string[];
  transfers: Transfers;
  now: () => number;
  /** TLS options for calls to peer agents (ca etc.). */
  peerTls?: import('node:https').AgentOptions;
  /** A young-generation GC, run every few MiB of an upload (see AgentDeps.minorGc). */
  minorGc?: () => void;
}
