/**
 * fast-check arbitraries of StatefulMigration specs for the CRD validation tests: mostly near-valid specs with
 * one or two mutations (wrong types, out-of-range numbers, bad names, missing required fields, unknown enum
 * values, cross-field rule violations, unicode, very long strings, nulls, unknown fields), so that both the API
 * server and `validateSpec` see many accepted and many rejected specs, and the edges between them.
 *
 * A case is plain data (the spec as JSON and the mutations as readable strings): a failure report shows what was
 * sent, and `applyMutation` replays a mutation in a regression test.
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A spec as sent (undefined: the body has no `spec`) and the mutations that made it from a valid one. */
export interface SpecCase {
  spec: Json | undefined;
  mutations: string[];
}

/** A change to a spec: set a field (creating its parent object), delete it, or replace the whole spec. */
export type Mutation =
  | { kind: 'set'; path: string[]; value: Json; why: string }
  | { kind: 'delete'; path: string[]; why: string }
  | { kind: 'root'; value: Json | undefined; why: string };

const PHASES = ['Pending', 'Checkpointing', 'Transferring', 'Restoring', 'Replaying', 'Finalizing'] as const;
const WEEK = 604_800;

// --- valid values ---------------------------------------------------------------------------------------------

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/);
/** A DNS-1123 subdomain: short, dotted, or long (up to the 253 limit). */
export const subdomainArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: label },
  { weight: 2, arbitrary: fc.array(label, { minLength: 2, maxLength: 4 }).map((a) => a.join('.')) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 60, max: 253 }), label).map(([n, l]) => `${l}${'x'.repeat(n)}`.slice(0, n)),
  },
);
const containerNameArb = fc.oneof(
  { weight: 5, arbitrary: label },
  { weight: 1, arbitrary: fc.constant('c'.repeat(63)) },
);
const repoComponent = fc.stringMatching(/^[a-z0-9]{1,6}([._-][a-z0-9]{1,6}){0,2}$/);
const repositoryArb = fc
  .tuple(
    fc.option(fc.constantFrom('registry.local:5000', 'localhost:5000', 'Registry.Example.com', '127.0.0.1:5000'), {
      nil: undefined,
    }),
    fc.array(repoComponent, { minLength: 1, maxLength: 3 }),
  )
  .map(([host, path]) => [host, ...path].filter((p) => p !== undefined).join('/'));
/** Names the broker accepts: printable ASCII or any Unicode text, never `amq.`-prefixed, within 243 bytes. */
const amqpNameArb = fc
  .oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9._-]{0,30}$/) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }) },
  )
  .filter((s) => !s.startsWith('amq.') && new TextEncoder().encode(s).length <= 243);
const brokerUrlArb = fc
  .tuple(
    fc.constantFrom('amqp', 'amqps'),
    fc.option(fc.constantFrom('guest:guest@', 'u%40x:p%3A@'), { nil: '' }),
    fc.constantFrom('mq', 'rabbitmq.ms2m-system.svc', '10.0.0.7', '[::1]'),
    fc.option(fc.constantFrom(':5672', ':5671'), { nil: '' }),
    fc.option(fc.constantFrom('/', '/vhost', '/%2F'), { nil: '' }),
  )
  .map(([scheme, auth, host, port, vhost]) => `${scheme}://${auth}${host}${port}${vhost}`);
const secretKeyArb = fc.stringMatching(/^[-._a-zA-Z0-9]{1,20}$/);
// doubles spread over the float bit space: most are tiny, so a deadline of milliseconds is common but not the rule
const secondsArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: WEEK }) },
  { weight: 1, arbitrary: fc.double({ min: 0.001, max: WEEK, noNaN: true }) },
);

/** A spec `validateSpec` and the API server both accept. */
export const validSpecArb: fc.Arbitrary<JsonObject> = fc
  .record(
    {
      sourcePod: subdomainArb,
      containerName: containerNameArb,
      targetNode: subdomainArb,
      migrationStrategy: fc.constantFrom('ShadowPod', 'Sequential', 'auto'),
      transferMode: fc.constantFrom('Registry', 'Direct'),
      checkpointImageRepository: repositoryArb,
      replayMode: fc.constantFrom('Cutoff', 'Drain'),
      replayCutoffSeconds: fc.integer({ min: 0, max: 600 }),
      replayMaxSeconds: fc.oneof(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: WEEK })),
      drainStallSeconds: fc.integer({ min: 1, max: WEEK }),
      messageQueueConfig: fc.record(
        { queueName: amqpNameArb, brokerUrl: brokerUrlArb, exchangeName: amqpNameArb, routingKey: fc.string() },
        { requiredKeys: ['queueName', 'exchangeName'] },
      ),
      brokerSecretRef: fc.record({ name: subdomainArb, key: secretKeyArb }),
      phaseDeadlines: fc.record(Object.fromEntries(PHASES.map((p) => [p, secondsArb])), { requiredKeys: [] }),
      cancel: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      finalizeDeploymentMode: fc.constantFrom('Adopt', 'PatchAffinity'),
    },
    { requiredKeys: ['sourcePod', 'targetNode', 'messageQueueConfig'] },
  )
  .map((raw) => {
    const s = structuredClone(raw) as JsonObject & { messageQueueConfig: JsonObject };
    // the cross-field rules
    if (s.messageQueueConfig.brokerUrl === undefined && s.brokerSecretRef === undefined)
      s.messageQueueConfig.brokerUrl = 'amqp://mq:5672';
    if (s.transferMode === 'Registry' && s.checkpointImageRepository === undefined)
      s.checkpointImageRepository = 'registry.local:5000/ms2m';
    const max = typeof s.replayMaxSeconds === 'number' ? s.replayMaxSeconds : 120;
    if (typeof s.replayCutoffSeconds === 'number' && s.replayCutoffSeconds > max) s.replayCutoffSeconds = max;
    if (typeof s.messageQueueConfig.routingKey === 'string' && s.messageQueueConfig.routingKey.length > 100)
      s.messageQueueConfig.routingKey = s.messageQueueConfig.routingKey.slice(0, 100);
    return s;
  });

// --- edge values, valid and invalid ----------------------------------------------------------------------------

const LONE_HIGH = '\ud800';
const LONE_LOW = '\udc00';

const SUBDOMAIN_EDGES: Json[] = [
  '',
  'a',
  'A',
  'Pod',
  'pod_1',
  '-pod',
  'pod-',
  'pod.',
  '.pod',
  'po..d',
  'pod.-x',
  'pöd',
  'pod😀',
  ' pod',
  'pod\n',
  'pod\u0000',
  `pod${LONE_HIGH}`,
  '0',
  '1.2.3.4',
  'a-b.c-d',
  'a'.repeat(253),
  'a'.repeat(254),
  `${'a.'.repeat(126)}a`,
  `${'x'.repeat(63)}.${'y'.repeat(63)}`,
  'é'.repeat(10),
];
const LABEL_EDGES: Json[] = ['', 'a', 'a'.repeat(63), 'a'.repeat(64), 'A', 'a.b', 'a_b', '-a', 'a-', '😀', '1'];
const INT_EDGES: Json[] = [-1, 0, 1, 119, 120, 121, WEEK, WEEK + 1, -WEEK, 1.5, 0.1, -0.5, 2 ** 31, 2 ** 53, 1e21];
const SECONDS_EDGES: Json[] = [0, -1, 1e-9, -1e-9, 0.001, 0.5, 5e-324, WEEK, WEEK + 0.5, WEEK + 1, 1e308];
const BOOL_EDGES: Json[] = ['true', 'false', 1, 0, true, false, 'yes'];
const AMQP_NAME_EDGES: Json[] = [
  '',
  'q',
  'amq.q',
  'amq.',
  'amq',
  'AMQ.q',
  'amq_q',
  ' amq.q',
  'a'.repeat(243),
  'a'.repeat(244),
  'a'.repeat(255),
  'a'.repeat(256),
  'é'.repeat(121), // 242 bytes
  'é'.repeat(122), // 244 bytes
  'é'.repeat(128), // 256 bytes, 128 characters
  '😀'.repeat(60), // 240 bytes, 120 UTF-16 units
  '😀'.repeat(61), // 244 bytes
  '😀'.repeat(200), // 200 characters, 400 UTF-16 units, 800 bytes
  '\u0000',
  'a\nb',
  LONE_HIGH,
  `${LONE_LOW}x`,
  'e\u0301',
  '\u202eevil',
  '日本語のキュー',
  'q with spaces',
];
const URL_EDGES: Json[] = [
  'amqp://mq',
  'amqps://u:p@mq:5671/vh',
  'amqp://',
  'amqps://',
  'http://mq',
  'AMQP://mq',
  'amqp://m q',
  'amqp://m\u00a0q',
  'amqp://m\u2028q',
  'amqp://mé',
  'amqp://m\tq',
  'amqp:/mq',
  `amqp://${'a'.repeat(2041)}`, // 2048 characters
  `amqp://${'a'.repeat(2042)}`, // 2049
  'amqp://%41',
  'amqp://[::1]:5672',
  'amqp://mq\n',
  'amqp://😀',
  '',
];
const REPO_EDGES: Json[] = [
  'registry.local:5000/ms2m',
  'ms2m',
  'a/b/c',
  'Registry.Local:5000/ms2m',
  'registry:5000/Ms2m',
  'registry:5000/app:checkpoint',
  'registry/app@sha256:abc',
  'a__b',
  'a___b',
  'a--b',
  'a-',
  '-a',
  '',
  'localhost/ms2m',
  'r:99999999/x',
  'a'.repeat(255),
  'a'.repeat(256),
  `${'x/'.repeat(10)}y`,
  'ms2m/',
  'régistry/x',
];
const SECRET_KEY_EDGES: Json[] = [
  'url',
  'broker.url',
  'BROKER_URL',
  'a/b',
  '',
  'a'.repeat(253),
  'a'.repeat(254),
  '.',
  'é',
  'a b',
];

type FieldKind =
  | 'subdomain'
  | 'label'
  | 'enum'
  | 'int'
  | 'seconds'
  | 'bool'
  | 'amqpName'
  | 'url'
  | 'repo'
  | 'secretKey';

/** Every leaf field of the spec and what kind of value it holds. */
const LEAVES: Array<{ path: string[]; kind: FieldKind; values?: string[] }> = [
  { path: ['sourcePod'], kind: 'subdomain' },
  { path: ['containerName'], kind: 'label' },
  { path: ['targetNode'], kind: 'subdomain' },
  { path: ['migrationStrategy'], kind: 'enum', values: ['ShadowPod', 'Sequential', 'auto'] },
  { path: ['transferMode'], kind: 'enum', values: ['Registry', 'Direct'] },
  { path: ['checkpointImageRepository'], kind: 'repo' },
  { path: ['replayMode'], kind: 'enum', values: ['Cutoff', 'Drain'] },
  { path: ['replayCutoffSeconds'], kind: 'int' },
  { path: ['replayMaxSeconds'], kind: 'int' },
  { path: ['drainStallSeconds'], kind: 'int' },
  { path: ['messageQueueConfig', 'queueName'], kind: 'amqpName' },
  { path: ['messageQueueConfig', 'brokerUrl'], kind: 'url' },
  { path: ['messageQueueConfig', 'exchangeName'], kind: 'amqpName' },
  { path: ['messageQueueConfig', 'routingKey'], kind: 'amqpName' },
  { path: ['brokerSecretRef', 'name'], kind: 'subdomain' },
  { path: ['brokerSecretRef', 'key'], kind: 'secretKey' },
  ...PHASES.map((p) => ({ path: ['phaseDeadlines', p], kind: 'seconds' as const })),
  { path: ['cancel'], kind: 'bool' },
  { path: ['finalizeDeploymentMode'], kind: 'enum', values: ['Adopt', 'PatchAffinity'] },
];
const OBJECTS = [['messageQueueConfig'], ['brokerSecretRef'], ['phaseDeadlines']];

const enumEdges = (values: string[]): fc.Arbitrary<Json> =>
  fc.oneof(
    fc.constantFrom(...values),
    fc.constantFrom(...values).map((v) => v.toLowerCase()),
    fc.constantFrom(...values).map((v) => v.toUpperCase()),
    fc.constantFrom(...values).map((v) => ` ${v}`),
    fc.constantFrom('', 'Auto', 'Shadowpod', 'Fast', 'Registry', 'Cutoff', 'Adopt', 'ShadowPod'),
  );

const generated: Record<FieldKind, fc.Arbitrary<Json>> = {
  subdomain: fc.string({ unit: 'grapheme-ascii', maxLength: 20 }),
  label: fc.string({ unit: 'grapheme-ascii', maxLength: 70 }),
  enum: fc.string({ maxLength: 12 }),
  int: fc.integer({ min: -10, max: WEEK + 10 }),
  seconds: fc.double({ noNaN: true, noDefaultInfinity: true, min: -10, max: WEEK + 10 }),
  bool: fc.boolean(),
  amqpName: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 10 })),
  url: fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => `amqp://${s}`),
  repo: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
  secretKey: fc.string({ unit: 'grapheme', maxLength: 12 }),
};
const EDGES: Record<Exclude<FieldKind, 'enum'>, Json[]> = {
  subdomain: SUBDOMAIN_EDGES,
  label: LABEL_EDGES,
  int: INT_EDGES,
  seconds: SECONDS_EDGES,
  bool: BOOL_EDGES,
  amqpName: AMQP_NAME_EDGES,
  url: URL_EDGES,
  repo: REPO_EDGES,
  secretKey: SECRET_KEY_EDGES,
};

const valueFor = (leaf: (typeof LEAVES)[number]): fc.Arbitrary<Json> =>
  leaf.kind === 'enum'
    ? fc.oneof({ weight: 3, arbitrary: enumEdges(leaf.values ?? []) }, { weight: 1, arbitrary: generated.enum })
    : fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...EDGES[leaf.kind]) },
        { weight: 1, arbitrary: generated[leaf.kind] },
      );

/** A value of any JSON type, for "wrong type" mutations (often the wrong one, sometimes by chance the right one). */
const anyJson: fc.Arbitrary<Json> = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
) as fc.Arbitrary<Json>;

const show = (v: Json | undefined): string => {
  const s = JSON.stringify(v) ?? 'undefined';
  const chars = [...s]; // never cut an emoji in half
  return chars.length > 60 ? `${chars.slice(0, 40).join('')}…(${chars.length} characters)` : s;
};

const leafArb = fc.constantFrom(...LEAVES);
const setEdge: fc.Arbitrary<Mutation> = leafArb.chain((leaf) =>
  valueFor(leaf).map((value) => ({ kind: 'set' as const, path: leaf.path, value, why: 'edge value' })),
);
const setWrongType: fc.Arbitrary<Mutation> = fc
  .tuple(fc.constantFrom(...LEAVES.map((l) => l.path), ...OBJECTS), anyJson)
  .map(([path, value]) => ({ kind: 'set', path, value, why: 'wrong type' }));
const setNull: fc.Arbitrary<Mutation> = fc
  .constantFrom(...LEAVES.map((l) => l.path), ...OBJECTS)
  .map((path) => ({ kind: 'set', path, value: null, why: 'null' }));
const remove: fc.Arbitrary<Mutation> = fc
  .constantFrom(...LEAVES.map((l) => l.path), ...OBJECTS)
  .map((path) => ({ kind: 'delete', path, why: 'missing' }));
const unknownField: fc.Arbitrary<Mutation> = fc
  .tuple(
    fc.constantFrom([], ...OBJECTS),
    fc.oneof(
      fc.constantFrom('unknownField', 'sourcepod', 'SourcePod', 'status', 'spec', '__proto__', 'constructor', 'x-y'),
      fc.string({ minLength: 1, maxLength: 10 }),
    ),
    anyJson,
  )
  .map(([parent, key, value]) => ({ kind: 'set', path: [...parent, key], value, why: 'unknown field' }));
/** Breaks one cross-field rule (the CEL rules of the CRD). */
const ruleViolation: fc.Arbitrary<Mutation[]> = fc.oneof(
  fc.constant<Mutation[]>([
    { kind: 'delete', path: ['messageQueueConfig', 'brokerUrl'], why: 'rule: no broker' },
    { kind: 'delete', path: ['brokerSecretRef'], why: 'rule: no broker' },
  ]),
  fc.constant<Mutation[]>([
    { kind: 'set', path: ['transferMode'], value: 'Registry', why: 'rule: Registry without repository' },
    { kind: 'delete', path: ['checkpointImageRepository'], why: 'rule: Registry without repository' },
  ]),
  fc.tuple(fc.integer({ min: 1, max: WEEK - 1 }), fc.integer({ min: 1, max: 1000 })).map(([max, over]): Mutation[] => [
    { kind: 'set', path: ['replayMaxSeconds'], value: max, why: 'rule: cutoff above max' },
    { kind: 'set', path: ['replayCutoffSeconds'], value: Math.min(WEEK, max + over), why: 'rule: cutoff above max' },
  ]),
  fc.integer({ min: 121, max: WEEK }).map((cutoff): Mutation[] => [
    { kind: 'delete', path: ['replayMaxSeconds'], why: 'rule: cutoff above the default max' },
    { kind: 'set', path: ['replayCutoffSeconds'], value: cutoff, why: 'rule: cutoff above the default max' },
  ]),
  fc
    .tuple(fc.constantFrom('queueName', 'exchangeName'), fc.stringMatching(/^[a-z0-9.-]{0,10}$/))
    .map(([field, rest]): Mutation[] => [
      { kind: 'set', path: ['messageQueueConfig', field], value: `amq.${rest}`, why: 'rule: reserved amq. name' },
    ]),
);
const rootMutation: fc.Arbitrary<Mutation> = fc
  .constantFrom<Json | undefined>(undefined, null, 'spec', [], 42, {})
  .map((value) => ({ kind: 'root', value, why: 'spec itself' }));

/** One mutation (or a pair that breaks one rule together). */
export const mutationArb: fc.Arbitrary<Mutation[]> = fc.oneof(
  { weight: 8, arbitrary: setEdge.map((m) => [m]) },
  { weight: 3, arbitrary: setWrongType.map((m) => [m]) },
  { weight: 1, arbitrary: setNull.map((m) => [m]) },
  { weight: 3, arbitrary: remove.map((m) => [m]) },
  { weight: 2, arbitrary: unknownField.map((m) => [m]) },
  { weight: 3, arbitrary: ruleViolation },
  { weight: 1, arbitrary: rootMutation.map((m) => [m]) },
);

/** Applies `m` to a copy of `spec` (an object, or anything after a root mutation). */
export function applyMutation(spec: Json | undefined, m: Mutation): Json | undefined {
  if (m.kind === 'root') return m.value === undefined ? undefined : structuredClone(m.value);
  const copy = structuredClone(spec);
  if (copy === null || typeof copy !== 'object' || Array.isArray(copy)) return copy;
  let node: JsonObject = copy;
  for (const key of m.path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      if (m.kind === 'delete') return copy;
      const created: JsonObject = {};
      define(node, key, created);
      node = created;
    } else node = next;
  }
  const last = m.path.at(-1) as string;
  if (m.kind === 'delete') delete node[last];
  else define(node, last, structuredClone(m.value));
  return copy;
}

/** An own data property even for `__proto__` (plain assignment would set the prototype and send nothing). */
function define(o: JsonObject, key: string, value: Json): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

export const describeMutation = (m: Mutation): string =>
  m.kind === 'root'
    ? `spec = ${show(m.value)} (${m.why})`
    : m.kind === 'delete'
      ? `delete spec.${m.path.join('.')} (${m.why})`
      : `spec.${m.path.join('.')} = ${show(m.value)} (${m.why})`;

/**
 * A case: a valid spec (about a quarter), or one with one or two mutations.
 *
 * @example
 * ```ts
 * const cases = fc.sample(specCaseArb, { seed, numRuns: 10_000 });
 * ```
 */
export const specCaseArb: fc.Arbitrary<SpecCase> = fc
  .tuple(
    validSpecArb,
    fc.oneof(
      { weight: 1, arbitrary: fc.constant<Mutation[][]>([]) },
      { weight: 2, arbitrary: mutationArb.map((m) => [m]) },
      { weight: 1, arbitrary: fc.tuple(mutationArb, mutationArb) },
    ),
  )
  .map(([valid, groups]) => {
    const ms = groups.flat();
    let spec: Json | undefined = valid;
    for (const m of ms) spec = applyMutation(spec, m);
    return { spec, mutations: ms.map(describeMutation) };
  });
