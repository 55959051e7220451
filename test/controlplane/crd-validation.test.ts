/**
 * The StatefulMigration CRD on a real API server (issue 8): generated specs, valid and near-valid, sent with
 * server-side dry-run. The API server and `validateSpec` come from one source (actors/crd), so they must agree on
 * every spec: the same verdict, the same field named in a rejection, the same defaulted spec in an acceptance.
 * Then a sample of accepted specs is created for real and run by the operator: each ends Completed or Failed with
 * a message, its finalizer removed, and the operator logs no error.
 *
 * Reproduce a run with PROPERTY_SEED=<seed printed at the start and in every failure>; CRD_SPEC_COUNT (default
 * 10,000) and CRD_REAL_COUNT (default 200) set the sizes.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createOperator, FINALIZER, type Operator } from '../../actors/controller/operator.ts';
import { toCustomResourceDefinition, validateSpec } from '../../actors/crd/resource.ts';
import { type StatefulMigrationStatusWire, statefulMigrationResource } from '../../actors/crd/stateful-migration.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { CustomResourceClient } from '../../adapters/kubernetes/custom-resources.ts';
import { KubeCluster } from '../../adapters/kubernetes/kubernetes.ts';
import { secretReader } from '../../adapters/kubernetes/secrets.ts';
import { eventually } from '../support/eventually.ts';
import { instantFakes } from '../support/fake-effects-operator.ts';
import { NodeSimulator } from '../support/node-simulator.ts';
import { installOperatorPrerequisites } from '../support/operator-env.ts';
import { type Json, type SpecCase, specCaseArb } from '../support/spec-arbitrary.ts';

const cp = inject('controlPlane');
const GROUP = { group: 'migration.ms2m.io', version: 'v1alpha1', plural: 'statefulmigrations' };
const API_VERSION = `${GROUP.group}/${GROUP.version}`;

const seed = process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : Date.now() % 2 ** 31;
if (!Number.isInteger(seed)) throw new Error(`PROPERTY_SEED must be an integer, got ${process.env.PROPERTY_SEED}`);
const specCount = Number(process.env.CRD_SPEC_COUNT ?? 10_000);
const realCount = Number(process.env.CRD_REAL_COUNT ?? 200);
const IN_FLIGHT = 16;
const repro = `PROPERTY_SEED=${seed} CRD_SPEC_COUNT=${specCount}`;
console.info(`crd-validation: ${repro} CRD_REAL_COUNT=${realCount}`);

const suffix = Date.now().toString(36);
const dryRunNamespace = `crdv-${suffix}`;
const runNamespace = `crdrun-${suffix}`;
/** Nodes of this file only, tainted so that the scheduler never places another file's pods on them. */
const NODES = ['crdv-node-a', 'crdv-node-b'];

let admin: KubeConfig;
let operatorKc: KubeConfig;
let core: CoreV1Api;
let dryRun: DryRunClient;

beforeAll(async () => {
  ({ admin, operator: operatorKc } = await installOperatorPrerequisites(cp));
  core = admin.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: dryRunNamespace } } });
  dryRun = await DryRunClient.create(admin, IN_FLIGHT);
});

afterAll(async () => {
  dryRun?.close();
  await core?.deleteNamespace({ name: dryRunNamespace }).catch(() => undefined);
});

/**
 * Server-side dry-run creates over one keep-alive connection pool with the kubeconfig's credentials. client-node
 * opens a new TLS connection per request: on two loaded cores it managed ~140 requests/s, this ~600/s.
 */
class DryRunClient {
  private constructor(
    private readonly server: URL,
    private readonly agent: https.Agent,
    /** Authorization headers of token or exec credentials (client certificates are in the agent). */
    private readonly auth: Record<string, string>,
  ) {}

  static async create(kc: KubeConfig, sockets: number): Promise<DryRunClient> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
    const tls: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(tls);
    const agent = new https.Agent({ keepAlive: true, maxSockets: sockets, ca: tls.ca, cert: tls.cert, key: tls.key });
    return new DryRunClient(new URL(cluster.server), agent, (tls.headers ?? {}) as Record<string, string>);
  }

  create(namespace: string, body: unknown): Promise<{ status: number; body: unknown }> {
    const data = JSON.stringify(body);
    const path = `/apis/${API_VERSION}/namespaces/${namespace}/${GROUP.plural}?dryRun=All`;
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.server.hostname,
          port: this.server.port,
          path,
          method: 'POST',
          agent: this.agent,
          timeout: 30_000,
          headers: {
            ...this.auth,
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(data)),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
            } catch {
              resolve({ status: res.statusCode ?? 0, body: text });
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`dry-run create timed out after 30 s: ${path}`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

type Verdict = { accepted: true; spec: unknown } | { accepted: false; fields: string[]; message: string };

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const toWellFormed = (s: string) => s.replace(LONE_SURROGATE, '\ufffd');
/** What the API server decodes from our JSON: the same value, lone surrogates replaced by U+FFFD. */
const wellFormed = (v: unknown): unknown =>
  typeof v === 'string'
    ? toWellFormed(v)
    : Array.isArray(v)
      ? v.map(wellFormed)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [toWellFormed(k), wellFormed(x)]))
        : v;

/** `validateSpec`'s verdict on exactly the JSON the server gets. */
function ours(spec: Json | undefined): Verdict {
  const sent = spec === undefined ? undefined : JSON.parse(JSON.stringify(spec));
  try {
    const valid = validateSpec(statefulMigrationResource, 'StatefulMigration', sent);
    return { accepted: true, spec: wellFormed(JSON.parse(JSON.stringify(valid))) };
  } catch (err) {
    const problems = ((err as { details?: { problems?: string[] } }).details?.problems ?? []) as string[];
    if (!problems.length) throw err;
    return {
      accepted: false,
      fields: [...new Set(problems.map((p) => p.slice(0, p.indexOf(': '))))],
      message: problems.join('; '),
    };
  }
}

interface StatusBody {
  kind?: string;
  message?: string;
  details?: { causes?: Array<{ field?: string; message?: string }> };
  spec?: unknown;
}

function theirs(res: { status: number; body: unknown }): Verdict {
  const body = res.body as StatusBody;
  if (res.status === 200 || res.status === 201) return { accepted: true, spec: body.spec };
  if (res.status !== 422 || body.kind !== 'Status')
    throw new Error(`unexpected answer ${res.status} to a dry-run create: ${JSON.stringify(res.body).slice(0, 500)}`);
  return {
    accepted: false,
    fields: (body.details?.causes ?? []).map((c) => c.field ?? '').filter(Boolean),
    message: body.message ?? '',
  };
}

interface Outcome {
  i: number;
  case: SpecCase;
  ours: Verdict;
  theirs: Verdict;
}

/** How the two verdicts differ (`group`: the kind of difference and the field, to count alike ones), or null. */
function disagreement(o: Outcome): { group: string; text: string } | null {
  const a = o.ours;
  const b = o.theirs;
  if (a.accepted && !b.accepted)
    return {
      group: `only the API server rejects ${b.fields.join(',')}`,
      text: `the API server rejected: ${b.message}`,
    };
  if (!a.accepted && b.accepted)
    return { group: `only validateSpec rejects ${a.fields.join(',')}`, text: `validateSpec rejected: ${a.message}` };
  if (a.accepted && b.accepted) {
    return isDeepStrictEqual(b.spec, a.spec)
      ? null
      : {
          group: 'both accept, the stored spec differs',
          text: `server ${JSON.stringify(b.spec)} vs validateSpec ${JSON.stringify(a.spec)}`,
        };
  }
  if (a.accepted || b.accepted) return null;
  if (!b.fields.some((f) => f.startsWith('spec')))
    return { group: 'the API server names no spec field', text: b.message };
  const missing = a.fields.filter((f) => !b.fields.includes(f) && !b.message.includes(`${f}:`));
  return missing.length
    ? {
        group: `validateSpec names ${missing.join(',')}, the API server does not`,
        text: `server: ${b.message} / validateSpec: ${a.message}`,
      }
    : null;
}

const short = (s: string, n = 600) => (s.length > n ? `${s.slice(0, n)}…` : s);

let cases: SpecCase[] | undefined;
const allCases = () => {
  cases ??= fc.sample(specCaseArb, { seed, numRuns: specCount });
  return cases;
};

describe('StatefulMigration CRD on a real API server', () => {
  it('the installed CRD carries the schema generated from actors/crd: enums, defaults, bounds and CEL rules', async () => {
    const crs = admin.makeApiClient(CustomObjectsApi);
    // raw JSON (client-node's typed read would rename enum/default into its model names)
    const installed = (await crs.getClusterCustomObject({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      plural: 'customresourcedefinitions',
      name: `${GROUP.plural}.${GROUP.group}`,
    })) as { spec: { versions: Array<{ schema: { openAPIV3Schema: unknown } }> } };
    const generated = toCustomResourceDefinition(statefulMigrationResource) as typeof installed;
    expect(installed.spec.versions[0]?.schema.openAPIV3Schema).toEqual(
      JSON.parse(JSON.stringify(generated.spec.versions[0]?.schema.openAPIV3Schema)),
    );
  });

  // counterexamples the generated specs found: before the fixes in actors/crd the two sides disagreed on each,
  // or both accepted a spec nothing downstream can use (a Secret key no Secret can hold, an AMQP name over 255 bytes)
  const base = {
    sourcePod: 'consumer-0',
    targetNode: 'node-b',
    messageQueueConfig: { queueName: 'orders', brokerUrl: 'amqp://mq:5672', exchangeName: 'orders-fanout' },
  };
  const mq = (patch: Record<string, Json>) => ({
    ...base,
    messageQueueConfig: { ...base.messageQueueConfig, ...patch },
  });
  it.each<[string, Json | undefined, string | null]>([
    ['a null optional field is pruned, as absent', { ...base, phaseDeadlines: { Pending: null } }, null],
    [
      'a null field with a default gets the default',
      { ...base, replayMaxSeconds: null, replayCutoffSeconds: 200 },
      'spec.replayCutoffSeconds',
    ],
    ['a null required field is missing', mq({ queueName: null }), 'spec.messageQueueConfig.queueName'],
    ['no spec at all is named spec', undefined, 'spec'],
    ['a spec that is not an object is named spec', 42, 'spec'],
    ['a no-break space in the broker URL', mq({ brokerUrl: 'amqp://mq\u00a0x' }), 'spec.messageQueueConfig.brokerUrl'],
    ['a line separator in the broker URL', mq({ brokerUrl: 'amqp://mq\u2028x' }), 'spec.messageQueueConfig.brokerUrl'],
    [
      'a Secret key starting with ..',
      { ...base, brokerSecretRef: { name: 'b', key: '..url' } },
      'spec.brokerSecretRef.key',
    ],
    ['130 emoji: 130 characters, 520 bytes', mq({ queueName: '😀'.repeat(130) }), 'spec.messageQueueConfig.queueName'],
    [
      '128 × é: 128 characters, 256 bytes',
      mq({ exchangeName: 'é'.repeat(128) }),
      'spec.messageQueueConfig.exchangeName',
    ],
    ['100 emoji routing key: 400 bytes', mq({ routingKey: '😀'.repeat(100) }), 'spec.messageQueueConfig.routingKey'],
    ['60 emoji routing key: 240 bytes', mq({ routingKey: '😀'.repeat(60) }), null],
  ])('regression: %s', async (_, spec, field) => {
    const body = { apiVersion: API_VERSION, kind: 'StatefulMigration', metadata: { name: 'regression' } };
    const server = theirs(await dryRun.create(dryRunNamespace, spec === undefined ? body : { ...body, spec }));
    const local = ours(spec);
    expect(disagreement({ i: 0, case: { spec, mutations: [] }, ours: local, theirs: server })).toBeNull();
    if (field === null) expect(server.accepted).toBe(true);
    else expect(server.accepted ? [] : server.fields).toContain(field);
  });

  it(`API server and validateSpec agree on ${specCount} generated specs (verdict, field named, defaulted spec)`, async () => {
    const generatedAt = performance.now();
    const all = allCases();
    const sentAt = performance.now();
    const outcomes = await pool(all, IN_FLIGHT, async (c, i): Promise<Outcome> => {
      const body = {
        apiVersion: API_VERSION,
        kind: 'StatefulMigration',
        metadata: { name: `v-${i}` },
        ...(c.spec === undefined ? {} : { spec: c.spec }),
      };
      const res = await dryRun.create(dryRunNamespace, body);
      return { i, case: c, ours: ours(c.spec), theirs: theirs(res) };
    });
    const ms = performance.now() - sentAt;
    const accepted = outcomes.filter((o) => o.theirs.accepted).length;
    const rejectedFields = new Map<string, number>();
    for (const o of outcomes)
      if (!o.theirs.accepted) for (const f of o.theirs.fields) rejectedFields.set(f, (rejectedFields.get(f) ?? 0) + 1);
    console.info(
      `crd-validation: ${outcomes.length} specs (generated in ${Math.round(sentAt - generatedAt)} ms), ` +
        `${accepted} accepted, ${outcomes.length - accepted} rejected, dry-run in ${Math.round(ms)} ms ` +
        `(${Math.round(outcomes.length / (ms / 1000))}/s, ${IN_FLIGHT} in flight); fields rejected: ` +
        JSON.stringify(Object.fromEntries([...rejectedFields].sort((a, b) => b[1] - a[1]))),
    );
    const groups = new Map<string, string[]>();
    for (const o of outcomes) {
      const d = disagreement(o);
      if (!d) continue;
      const example = `#${o.i} ${short(d.text)}\n     mutations: ${o.case.mutations.join('; ') || '(none)'}\n     spec: ${short(JSON.stringify(o.case.spec) ?? 'none', 300)}`;
      groups.set(d.group, [...(groups.get(d.group) ?? []), example]);
    }
    const report = [...groups]
      .sort((x, y) => y[1].length - x[1].length)
      .map(([group, examples]) => `${examples.length} × ${group}, e.g.\n   ${examples[0]}`);
    const total = [...groups.values()].reduce((n, e) => n + e.length, 0);
    expect(total, `${total} disagreements (${repro}):\n${report.slice(0, 20).join('\n')}`).toBe(0);
    // both sides were exercised
    expect(accepted).toBeGreaterThan(outcomes.length / 5);
    expect(outcomes.length - accepted).toBeGreaterThan(outcomes.length / 5);
  }, 600_000);
});

describe(`${realCount} accepted specs created for real and run by the operator`, () => {
  const logs: LogLine[] = [];
  let operator: Operator;
  let nodes: NodeSimulator;
  let dir: string;

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: runNamespace } } });
    await eventually('ServiceAccount default', () =>
      core.readNamespacedServiceAccount({ name: 'default', namespace: runNamespace }),
    );
    for (const name of NODES) {
      await core
        .createNode({
          body: {
            metadata: { name, labels: { 'kubernetes.io/hostname': name } },
            spec: { taints: [{ key: 'ms2m.io/crd-validation-only', effect: 'NoSchedule' }] },
          },
        })
        .catch((err: { code?: number }) => {
          if (err.code !== 409) throw err;
        });
    }
    nodes = new NodeSimulator({ kubeConfig: admin, nodes: NODES });
    await nodes.start();
    dir = mkdtempSync(join(tmpdir(), 'ms2m-crd-validation-'));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    operator = createOperator({
      logger,
      migrations: new CustomResourceClient(operatorKc, { ...GROUP, kind: 'StatefulMigration' }, runNamespace),
      effects: { cluster: new KubeCluster({ kubeConfig: operatorKc, logger }), ...instantFakes().effects },
      log: await openFileLog({ dir: join(dir, 'log'), logger }),
      // as main.ts: the Secret named by spec.brokerSecretRef, read with the operator's own credentials
      readSecret: secretReader(operatorKc),
      runtime: { maxAttempts: 3, retryBaseMs: 100 },
    });
    await operator.start();
  });

  afterAll(async () => {
    await operator?.stop();
    await nodes?.stop();
    await core?.deleteNamespace({ name: runNamespace }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('each ends Completed or Failed with a status message, its finalizer removed, no operator error logged', async () => {
    const accepted = allCases().flatMap((c, i) => (ours(c.spec).accepted ? [{ i, spec: c.spec as JsonObject }] : []));
    expect(accepted.length).toBeGreaterThanOrEqual(realCount);
    // a seeded sample of the accepted ones
    const [picked = []] = fc.sample(fc.shuffledSubarray(accepted, { minLength: realCount, maxLength: realCount }), {
      seed,
      numRuns: 1,
    });
    const usedPods = new Set<string>();
    const plan = picked.map(({ i, spec }, j) => planRun(i, j, structuredClone(spec), usedPods));
    const crs = admin.makeApiClient(CustomObjectsApi);
    // one Secret per name, with every key the runs read from it
    const secrets = new Map<string, Record<string, string>>();
    for (const { secret } of plan)
      if (secret) secrets.set(secret.name, { ...secrets.get(secret.name), [secret.key]: 'amqp://fake:5672' });
    for (const [name, stringData] of secrets)
      await core.createNamespacedSecret({ namespace: runNamespace, body: { metadata: { name }, stringData } });
    await pool(plan, 8, async (p) => {
      if (p.pod) await core.createNamespacedPod({ namespace: runNamespace, body: p.pod });
      await crs.createNamespacedCustomObject({
        ...GROUP,
        namespace: runNamespace,
        body: { apiVersion: API_VERSION, kind: 'StatefulMigration', metadata: { name: p.name }, spec: p.spec },
      });
    });
    const startedAt = performance.now();
    let last: Smig[] = [];
    try {
      await pollUntil(
        `${plan.length} StatefulMigrations Completed or Failed with a message and no finalizer`,
        async () => {
          last = ((await crs.listNamespacedCustomObject({ ...GROUP, namespace: runNamespace })) as { items: Smig[] })
            .items;
          return last.length === plan.length && last.every(settled);
        },
        { timeoutMs: 240_000, everyMs: 1000 },
      );
    } catch (err) {
      throw new Error(stuckReport(last, plan, logs), { cause: err });
    }
    const outcomes = new Map<string, { n: number; example: string }>();
    for (const m of last) {
      const failed = m.status?.conditions?.find((c) => c.type === 'Failed')?.reason;
      const reason = m.status?.phase === 'Completed' ? 'Completed' : `Failed/${failed ?? '?'}`;
      const seen = outcomes.get(reason);
      outcomes.set(reason, { n: (seen?.n ?? 0) + 1, example: seen?.example ?? short(m.status?.message ?? '', 160) });
    }
    const warnings = new Map<string, number>();
    for (const l of logs) if (l.level === 40) warnings.set(l.msg, (warnings.get(l.msg) ?? 0) + 1);
    console.info(
      `crd-validation: ${plan.length} real StatefulMigrations settled in ${Math.round(performance.now() - startedAt)} ms: ` +
        `${[...outcomes].map(([r, o]) => `\n  ${o.n} × ${r}, e.g. ${o.example}`).join('')}\n  operator warnings: ${JSON.stringify(Object.fromEntries(warnings))}`,
    );
    await eventually('operator holds no migration host', async () =>
      operator.running().size === 0 ? true : undefined,
    );
    expect(
      logs.filter((l) => l.level >= 50),
      `operator error logs (${repro})`,
    ).toEqual([]);
    expect(outcomes.get('Completed')?.n ?? 0, 'some migrations completed').toBeGreaterThan(0);
  }, 420_000);
});

type Smig = { metadata: { name: string; finalizers?: string[] }; status?: StatefulMigrationStatusWire };
type LogLine = { level: number; msg: string; [k: string]: unknown };

const settled = (m: Smig) =>
  (m.status?.phase === 'Completed' || m.status?.phase === 'Failed') &&
  !!m.status.message &&
  !m.metadata.finalizers?.includes(FINALIZER);

/** The unsettled resources: their status, case, spec, and the operator's last warnings about them. */
function stuckReport(last: Smig[], plan: RunPlan[], logs: LogLine[]): string {
  const stuck = last.filter((m) => !settled(m));
  const byName = new Map(plan.map((p) => [p.name, p]));
  const lines = stuck.slice(0, 10).map((m) => {
    const p = byName.get(m.metadata.name);
    const about = logs.filter((l) => l.level >= 40 && JSON.stringify(l).includes(m.metadata.name)).slice(-2);
    return [
      `${m.metadata.name}: phase=${m.status?.phase} message=${short(m.status?.message ?? '', 400)} finalizers=${m.metadata.finalizers}`,
      `  case #${p?.i} (${p?.scenario}) spec=${short(JSON.stringify(p?.spec), 300)}`,
      ...about.map((l) => `  log: ${short(JSON.stringify(l), 500)}`),
    ].join('\n');
  });
  const missing = plan.length - last.length;
  return `${stuck.length + missing} of ${plan.length} not settled (${repro}):\n${lines.join('\n')}`;
}

type JsonObject = { [key: string]: Json };

interface RunPlan {
  i: number;
  name: string;
  scenario: string;
  spec: JsonObject;
  pod?: Record<string, unknown>;
  /** The Secret key this run's broker URL is read from, when it is to exist. */
  secret?: { name: string; key: string };
}

/**
 * How case `i` (the `j`th picked) runs: as generated (its source pod does not exist), with a pod of its own
 * source pod name, or pointed at a fresh pod whose container is or is not the one the spec names. One in ten has
 * the longest name allowed (63 characters: a label value; longer ones are refused at admission), and half of the
 * Secrets a spec names exist (a missing one must fail the migration with a message, not hang it).
 */
function planRun(i: number, j: number, spec: JsonObject, usedPods: Set<string>): RunPlan {
  const name = j % 10 === 9 ? `long-${j}-${'x'.repeat(63)}`.slice(0, 63) : `r-${j}`;
  let secret: RunPlan['secret'];
  const ref = spec.brokerSecretRef as { name: string; key: string } | undefined;
  if (ref && (spec.messageQueueConfig as JsonObject).brokerUrl == null) {
    if (j % 2 === 0) secret = ref;
  }
  const container = typeof spec.containerName === 'string' ? spec.containerName : 'app';
  const podOn = (podName: string, containerName: string) => ({
    metadata: { name: podName, labels: { app: 'crd-validation' } },
    spec: {
      nodeName: NODES[0],
      tolerations: [{ key: 'ms2m.io/crd-validation-only', operator: 'Exists' }],
      containers: [{ name: containerName, image: 'registry.invalid/ms2m/consumer:1' }],
    },
  });
  const base = { i, name, spec, secret };
  const onTarget = { ...spec, targetNode: NODES[1] as string };
  const own = spec.sourcePod as string;
  if (j % 4 === 0 || (j % 4 === 1 && usedPods.has(own))) return { ...base, scenario: 'as generated' };
  if (j % 4 === 1) {
    usedPods.add(own);
    return { ...base, scenario: 'own source pod name', spec: onTarget, pod: podOn(own, container) };
  }
  const fresh = `src-${j}`;
  usedPods.add(fresh);
  return j % 4 === 2
    ? {
        ...base,
        scenario: 'fresh pod, its container',
        spec: { ...onTarget, sourcePod: fresh },
        pod: podOn(fresh, container),
      }
    : {
        ...base,
        scenario: 'fresh pod, container app',
        spec: { ...onTarget, sourcePod: fresh },
        pod: podOn(fresh, 'app'),
      };
}

/** `eventually` with a slower poll (listing hundreds of objects ten times a second would load the 2 cores). */
async function pollUntil(
  what: string,
  done: () => Promise<boolean>,
  o: { timeoutMs: number; everyMs: number },
): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${o.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, o.everyMs));
  }
}
