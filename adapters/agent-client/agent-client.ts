import http from 'node:http';
import https from 'node:https';
import { ErrorCode, errorCodeFromWire, Ms2mError, UnavailableError } from '../errors.ts';
import {
  type AgentClient,
  type CheckpointEntry,
  directCheckpointImage,
  type PredumpStatus,
  type ProgressListener,
  type TransferResult,
} from './port.ts';

export interface AgentClientOptions {
  /** Node name → agent base URL, e.g. `(n) => \`https://${ipOf(n)}:7443\``. */
  resolve: (node: string) => string | Promise<string>;
  token: string;
  tls?: https.AgentOptions;
}

/**
 * An error the agent answered (`{code, message}`), with its HTTP status. The agent's code is kept when it is in
 * the registry (ErrorCode), else AGENT_ERROR; the code as sent is in `details.upstreamCode`.
 */
export class AgentRequestError extends Ms2mError {
  constructor(node: string, status: number, code: unknown, message: string, transient: boolean) {
    super(errorCodeFromWire(code, ErrorCode.AGENT_ERROR), `Agent on node ${node}: ${message}`, {
      transient,
      details: { node, status, upstreamCode: code },
    });
  }
}

interface Answer {
  status: number;
  res: http.IncomingMessage;
}

/**
 * The AgentClient over HTTP: send/push read the agent's NDJSON progress stream and call `onProgress`.
 *
 * @example
 * ```ts
 * const agents = createAgentClient({ resolve: (n) => `http://${n}.agents.local:7443`, token });
 * const r = await agents.send({ sourceNode: 'a', targetNode: 'b', checkpointPath, container: 'app',
 *   migrationId: 'default/m1', key: 'default/m1:transfer' }, (p) => console.log(p.bytesTransferred));
 * ```
 */
export function createAgentClient(o: AgentClientOptions): AgentClient {
  const httpsAgent = new https.Agent({ keepAlive: true, ...o.tls });
  const httpAgent = new http.Agent({ keepAlive: true });

  async function call(node: string, method: string, path: string, body?: unknown): Promise<Answer> {
    const url = new URL(path, await o.resolve(node));
    const isHttps = url.protocol === 'https:';
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(
        url,
        {
          method,
          agent: isHttps ? httpsAgent : httpAgent,
          headers: {
            authorization: `Bearer ${o.token}`,
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => resolve({ status: res.statusCode ?? 0, res }),
      );
      req.on('error', (err) =>
        reject(new UnavailableError(`Agent on node ${node}`, `${method} ${url.pathname}: ${err.message}`, err)),
      );
      req.end(payload);
    });
  }

  /**
   * The answer's body chunks. A body that breaks off (the agent died or restarted mid-answer: `aborted`,
   * ECONNRESET) is the agent becoming unavailable, like a refused connection: transient, naming the agent.
   */
  async function* body(node: string, a: Answer, what: string): AsyncGenerator<Buffer> {
    try {
      for await (const c of a.res) yield c as Buffer;
    } catch (err) {
      throw new UnavailableError(
        `Agent on node ${node}`,
        `its answer to ${what} broke off (${(err as Error).message}): the agent stopped or restarted; retry`,
        err,
      );
    }
  }

  async function json<T>(node: string, a: Answer): Promise<T> {
    let text = '';
    for await (const c of body(node, a, 'the request')) text += c.toString('utf8');
    const parsed = text
      ? (JSON.parse(text) as T & { code?: string; message?: string })
      : ({} as T & { code?: string; message?: string });
    if (a.status >= 400)
      throw new AgentRequestError(
        node,
        a.status,
        parsed.code,
        parsed.message ?? text,
        a.status === 429 || a.status >= 500,
      );
    return parsed;
  }

  async function stream(node: string, a: Answer, onProgress?: ProgressListener): Promise<TransferResult> {
    if (a.status !== 200) return json<TransferResult>(node, a);
    let buf = '';
    for await (const c of body(node, a, 'the transfer')) {
      buf += c.toString('utf8');
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (line.type === 'progress')
          onProgress?.({ bytesTransferred: Number(line.bytesTransferred), bytesTotal: Number(line.bytesTotal) });
        else if (line.type === 'result')
          return { image: String(line.image), bytes: Number(line.bytes), sha256: String(line.sha256) };
        else if (line.type === 'error')
          throw new AgentRequestError(
            node,
            Number(line.status),
            line.code,
            String(line.message),
            Boolean(line.transient),
          );
      }
    }
    throw new UnavailableError(`Agent on node ${node}`, 'transfer stream ended without a result: retry');
  }

  return {
    async send(req, onProgress) {
      const targetUrl = await o.resolve(req.targetNode);
      const a = await call(req.sourceNode, 'POST', '/v1/send', {
        checkpointPath: req.checkpointPath,
        container: req.container,
        migrationId: req.migrationId,
        targetUrl,
        key: req.key,
      });
      const r = await stream(req.sourceNode, a, onProgress);
      // the image must be the one made from the archive the answer names, for this container
      const want = directCheckpointImage(req.container, r.sha256);
      if (r.image !== want)
        throw new AgentRequestError(
          req.sourceNode,
          502,
          ErrorCode.ANSWER_MISMATCH,
          `send to node ${req.targetNode} answered image ${r.image}, expected ${want}: the target agent is older than this client or faulty; upgrade the ms2m-agent DaemonSet`,
          false,
        );
      return r;
    },
    async push(req, onProgress) {
      const a = await call(req.sourceNode, 'POST', '/v1/push', {
        checkpointPath: req.checkpointPath,
        container: req.container,
        imageRef: req.imageRef,
        migrationId: req.migrationId,
        key: req.key,
      });
      return stream(req.sourceNode, a, onProgress);
    },
    async list(node): Promise<CheckpointEntry[]> {
      const r = await json<{ items: CheckpointEntry[] }>(node, await call(node, 'GET', '/v1/checkpoints'));
      return r.items;
    },
    async remove(node, id) {
      const a = await call(node, 'DELETE', `/v1/checkpoints/${encodeURIComponent(id)}`);
      await json<unknown>(node, a);
    },
    async gc(node, olderThanMs) {
      return (await json<{ removed: number }>(node, await call(node, 'POST', '/v1/gc', { olderThanMs }))).removed;
    },
    async predump(node, req): Promise<PredumpStatus> {
      return json<PredumpStatus>(node, await call(node, 'POST', '/v1/predump', req));
    },
  };
}
