/**
 * StatefulMigration (`migration.ms2m.io/v1alpha1`, short name `smig`): the single source of its CRD schema,
 * TypeScript types and runtime validation (shared API.md). `npm run crds` writes crds/ from this file; a test
 * fails when the committed YAML drifts.
 */
import { z } from 'zod';
import { PHASES } from '../../machines/spec.ts';
import { conditionsSchema, DNS1123_LABEL, DNS1123_SUBDOMAIN } from './common.ts';
import type { ResourceDefinition, SpecRule } from './resource.ts';

/** `[host[:port]/]path` of an OCI repository, no tag and no digest. */
const IMAGE_REPOSITORY =
  '^([a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?(:[0-9]+)?/)?[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*$';
/**
 * A key a Secret can hold (Kubernetes' IsConfigMapKey): `[-._a-zA-Z0-9]+`, but not `.` and not starting with
 * `..`, said without lookahead (the API server's Go regexp has none).
 */
const SECRET_KEY = '^(\\.[-_a-zA-Z0-9][-._a-zA-Z0-9]*|[-_a-zA-Z0-9][-._a-zA-Z0-9]*)$';
/** AMQP short strings are at most 255 bytes; the replay queue appends `.ms2m-replay` (12) to the queue name. */
const MAX_QUEUE_NAME = 243;
const WEEK_SECONDS = 7 * 24 * 3600;

/** UTF-8 bytes, as AMQP counts its short strings (a lone surrogate is U+FFFD after JSON decoding: 3 bytes too). */
const utf8Bytes = (v: string): number => new TextEncoder().encode(v).length;

const subdomain = (what: string) =>
  z.string().min(1).max(253).regex(new RegExp(DNS1123_SUBDOMAIN), `must be a DNS-1123 subdomain: ${what}`);

const seconds = (description: string, max = WEEK_SECONDS) =>
  z.number().positive().max(max).optional().meta({ description });

export const statefulMigrationSpecSchema = z
  .object({
    sourcePod: subdomain('lower-case letters, digits, "-" and "."').meta({
      description: 'Pod to migrate, in the same namespace (SHADOW).',
    }),
    containerName: z
      .string()
      .min(1)
      .max(63)
      .regex(new RegExp(DNS1123_LABEL), 'must be a container name (DNS-1123 label)')
      .optional()
      .meta({ description: 'Container to checkpoint; defaults to the first container of the pod (SHADOW).' }),
    targetNode: subdomain('a node name').meta({
      description: 'Node to migrate to; must exist and differ from the source node (SHADOW).',
    }),
    migrationStrategy: z.enum(['ShadowPod', 'Sequential', 'auto']).optional().meta({
      description: 'ShadowPod or Sequential; unset or auto: Sequential for a StatefulSet pod, else ShadowPod (SHADOW).',
    }),
    transferMode: z.enum(['Registry', 'Direct']).optional().meta({
      description:
        'Registry (OCI push) or Direct (node agent to node agent); unset: Registry when checkpointImageRepository is set, else Direct (SHADOW).',
    }),
    checkpointImageRepository: z
      .string()
      .max(255)
      .regex(new RegExp(IMAGE_REPOSITORY), 'must be an image repository without tag or digest')
      .optional()
      .meta({
        description: 'Image repository without tag for Registry transfer, e.g. registry.local:5000/ms2m (SHADOW).',
      }),
    replayMode: z.enum(['Cutoff', 'Drain']).default('Cutoff').meta({
      description:
        'Cutoff: stop the source at T_cutoff and let the target drain; Drain: drain, failing on a stall (SHADOW).',
    }),
    replayCutoffSeconds: z
      .number()
      .int()
      .min(0)
      .max(WEEK_SECONDS)
      .optional()
      .meta({ description: 'T_cutoff in seconds; unset or 0: computed as replayMaxSeconds · mu / lambda (SHADOW).' }),
    replayMaxSeconds: z
      .number()
      .int()
      .positive()
      .max(WEEK_SECONDS)
      .default(120)
      .meta({ description: 'T_replay_max in seconds: the cutoff formula, and the hard limit of Drain mode.' }),
    drainStallSeconds: z
      .number()
      .int()
      .positive()
      .max(WEEK_SECONDS)
      .default(30)
      .meta({ description: 'Drain mode fails when the replay depth has not decreased for this long.' }),
    messageQueueConfig: z
      .object({
        queueName: z
          .string()
          .min(1)
          .max(MAX_QUEUE_NAME)
          .meta({ description: 'The consumer primary queue; the replay queue is <queueName>.ms2m-replay.' }),
        // printable ASCII after the scheme: `[^\s]` differs between JavaScript (Unicode spaces) and the API
        // server's Go regexp (ASCII spaces only), and a URL is ASCII anyway (RFC 3986: percent-encode the rest)
        brokerUrl: z
          .string()
          .max(2048)
          .regex(/^amqps?:\/\/[!-~]+$/, 'must be an amqp:// or amqps:// URL (printable ASCII, no spaces)')
          .optional()
          .meta({ description: 'amqp:// or amqps:// URL of the broker (or use brokerSecretRef).' }),
        exchangeName: z.string().min(1).max(255).meta({ description: 'The fanout exchange producers publish to.' }),
        routingKey: z.string().max(255).optional().meta({ description: 'Routing key of the primary binding.' }),
      })
      .meta({ description: 'The RabbitMQ setup of the consumer (SHADOW).' }),
    brokerSecretRef: z
      .object({
        name: subdomain('a Secret name'),
        key: z
          .string()
          .min(1)
          .max(253)
          .regex(
            new RegExp(SECRET_KEY),
            'must be a Secret key: letters, digits, "-", "_" and ".", not "." and not starting with ".."',
          ),
      })
      .optional()
      .meta({ description: 'Secret (same namespace) whose key holds the broker URL; never logged.' }),
    phaseDeadlines: z
      .object({
        Pending: seconds('Seconds Pending may take.'),
        Checkpointing: seconds('Seconds Checkpointing may take.'),
        Transferring: seconds('Seconds Transferring may take.'),
        Restoring: seconds('Seconds Restoring may take.'),
        Replaying: seconds('Seconds Replaying may take.'),
        Finalizing: seconds('Seconds Finalizing may take.'),
      })
      .optional()
      .meta({
        description:
          'Seconds per phase (defaults: Pending 60, Checkpointing 300, Transferring 900, Restoring 600, Replaying 900, Finalizing 300); exceeding one fails the migration with compensation.',
      }),
    cancel: z.boolean().default(false).meta({
      description: 'true cancels the migration at any phase before Finalizing and compensates; cannot be undone.',
    }),
    finalizeDeploymentMode: z.enum(['Adopt', 'PatchAffinity']).default('Adopt').meta({
      description:
        "Adopt: the ReplicaSet adopts the migrated pod and removes the source; PatchAffinity: SHADOW's nodeAffinity patch.",
    }),
  })
  .meta({ description: 'What to migrate, where, and how.' });

export type StatefulMigrationSpecInput = z.input<typeof statefulMigrationSpecSchema>;
export type StatefulMigrationSpecValid = z.output<typeof statefulMigrationSpecSchema>;

const rules: SpecRule<StatefulMigrationSpecValid>[] = [
  {
    cel: 'has(self.messageQueueConfig.brokerUrl) || has(self.brokerSecretRef)',
    holds: (s) => s.messageQueueConfig.brokerUrl !== undefined || s.brokerSecretRef !== undefined,
    message: 'set messageQueueConfig.brokerUrl or brokerSecretRef',
    fieldPath: '.messageQueueConfig.brokerUrl',
  },
  {
    cel: "!has(self.transferMode) || self.transferMode != 'Registry' || has(self.checkpointImageRepository)",
    holds: (s) => s.transferMode !== 'Registry' || s.checkpointImageRepository !== undefined,
    message: 'checkpointImageRepository is required when transferMode is Registry',
    fieldPath: '.checkpointImageRepository',
  },
  {
    cel: '!has(self.replayCutoffSeconds) || self.replayCutoffSeconds <= self.replayMaxSeconds',
    holds: (s) => s.replayCutoffSeconds === undefined || s.replayCutoffSeconds <= s.replayMaxSeconds,
    message: 'replayCutoffSeconds must not exceed replayMaxSeconds',
    fieldPath: '.replayCutoffSeconds',
  },
  {
    cel: "!self.messageQueueConfig.queueName.startsWith('amq.')",
    holds: (s) => !s.messageQueueConfig.queueName.startsWith('amq.'),
    message: 'queue names starting with "amq." are reserved by the broker',
    fieldPath: '.messageQueueConfig.queueName',
  },
  {
    cel: `size(bytes(self.messageQueueConfig.queueName)) <= ${MAX_QUEUE_NAME}`,
    holds: (s) => utf8Bytes(s.messageQueueConfig.queueName) <= MAX_QUEUE_NAME,
    message: `queueName must be at most ${MAX_QUEUE_NAME} bytes of UTF-8 (AMQP names are at most 255 bytes, and the replay queue adds .ms2m-replay)`,
    fieldPath: '.messageQueueConfig.queueName',
  },
  {
    cel: 'size(bytes(self.messageQueueConfig.exchangeName)) <= 255',
    holds: (s) => utf8Bytes(s.messageQueueConfig.exchangeName) <= 255,
    message: 'exchangeName must be at most 255 bytes of UTF-8 (AMQP names are at most 255 bytes)',
    fieldPath: '.messageQueueConfig.exchangeName',
  },
  {
    cel: '!has(self.messageQueueConfig.routingKey) || size(bytes(self.messageQueueConfig.routingKey)) <= 255',
    holds: (s) => s.messageQueueConfig.routingKey === undefined || utf8Bytes(s.messageQueueConfig.routingKey) <= 255,
    message: 'routingKey must be at most 255 bytes of UTF-8 (AMQP short string)',
    fieldPath: '.messageQueueConfig.routingKey',
  },
  {
    cel: "!self.messageQueueConfig.exchangeName.startsWith('amq.')",
    holds: (s) => !s.messageQueueConfig.exchangeName.startsWith('amq.'),
    message: 'exchange names starting with "amq." are reserved by the broker: use an exchange of your own',
    fieldPath: '.messageQueueConfig.exchangeName',
  },
];

export const statefulMigrationStatusSchema = z
  .object({
    phase: z.enum(PHASES).optional(),
    sourceNode: z.string().optional(),
    containerName: z.string().optional(),
    checkpointID: z.string().optional(),
    targetPod: z.string().optional(),
    strategy: z.enum(['ShadowPod', 'Sequential']).optional(),
    transferMode: z.enum(['Registry', 'Direct']).optional(),
    startTime: z.string().meta({ format: 'date-time' }).optional(),
    completionTime: z.string().meta({ format: 'date-time' }).optional(),
    phaseTimings: z
      .record(z.string(), z.string())
      .optional()
      .meta({ description: 'Phase -> Go-duration string ("1.243s"), as SHADOW.' }),
    phaseTimingsMs: z.record(z.string(), z.number()).optional().meta({ description: 'Phase -> exact milliseconds.' }),
    statefulSetName: z.string().optional(),
    deploymentName: z.string().optional(),
    originalReplicas: z.number().int().min(0).optional(),
    progress: z
      .object({
        bytesTransferred: z.number().int().min(0),
        bytesTotal: z.number().int().min(0),
        replayDepth: z.number().int().min(0).optional(),
        replayed: z.number().int().min(0),
        etaSeconds: z.number().min(0).optional(),
      })
      .optional(),
    cutoff: z
      .object({
        seconds: z.number().min(0),
        computed: z.boolean(),
        mu: z.number().optional(),
        lambda: z.number().optional(),
      })
      .optional(),
    conditions: conditionsSchema(),
    message: z.string().optional(),
    observedGeneration: z.number().int().min(0).optional(),
    eventLog: z.string().optional().meta({ description: "Where this migration's event log lives." }),
  })
  .meta({ description: 'Observed state, projected from the event log.' });

export type StatefulMigrationStatusWire = z.input<typeof statefulMigrationStatusSchema>;

export const statefulMigrationResource: ResourceDefinition<
  typeof statefulMigrationSpecSchema,
  typeof statefulMigrationStatusSchema
> = {
  group: 'migration.ms2m.io',
  version: 'v1alpha1',
  kind: 'StatefulMigration',
  plural: 'statefulmigrations',
  singular: 'statefulmigration',
  shortNames: ['smig'],
  categories: ['ms2m'],
  description:
    'Live migration of a stateful pod to another node with zero message loss (MS2M): checkpoint, transfer, restore, replay.',
  spec: statefulMigrationSpecSchema,
  status: statefulMigrationStatusSchema,
  rules,
  maxNameLength: { length: 63, why: 'it is the value of the label migration.ms2m.io/migration on the target pod' },
  frozenSpec: {
    // the host runs the spec it logged when it started: a later edit could never take effect, so it is refused
    editableInPhases: [],
    mutable: ['cancel'],
    message:
      'The spec of a StatefulMigration is fixed once the controller has started it (only spec.cancel may change): create a new StatefulMigration instead',
  },
  transitionRules: [
    { cel: '!oldSelf.cancel || self.cancel', message: 'cancel cannot be undone', fieldPath: '.cancel' },
  ],
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Source', type: 'string', jsonPath: '.spec.sourcePod' },
    { name: 'Target', type: 'string', jsonPath: '.spec.targetNode' },
    { name: 'Strategy', type: 'string', jsonPath: '.status.strategy' },
    { name: 'Transfer', type: 'string', jsonPath: '.status.transferMode' },
    { name: 'Total', type: 'string', jsonPath: '.status.phaseTimings.Total' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
