/**
 * VolumeResize (`storage.ms2m.io/v1alpha1`, short name `vr`): the single source of its CRD schema, TypeScript
 * types and runtime validation (shared API.md), beside StatefulMigration's. `npm run crds` writes crds/ from it.
 */
import { z } from 'zod';
import { quantityBytes } from '../../machines/quantity.ts';
import { VR_PHASES } from '../../machines/volume-resize-spec.ts';
import { conditionsSchema, DNS1123_LABEL, DNS1123_SUBDOMAIN } from './common.ts';
import type { ResourceDefinition, SpecRule } from './resource.ts';

/** A non-negative Kubernetes quantity (machines/quantity.ts parses the same language). */
const QUANTITY = '^([+]?[0-9]+(\\.[0-9]*)?|[+]?\\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$';

const volume = z.object({
  name: z
    .string()
    .min(1)
    .max(63)
    .regex(new RegExp(DNS1123_LABEL), 'must be a volumeClaimTemplate name (DNS-1123 label)')
    .meta({ description: 'A volumeClaimTemplate of the StatefulSet.' }),
  newSize: z
    .string()
    // bounded, or the API server refuses the CRD: the CEL rule over every newSize would exceed its cost budget
    .max(64)
    .regex(new RegExp(QUANTITY), 'must be a quantity such as 1Gi or 500M')
    .meta({ description: 'The smaller size (quantity); must exceed the data used plus usedBytesMargin.' }),
  storageClass: z
    .string()
    .min(1)
    .max(253)
    .regex(new RegExp(DNS1123_SUBDOMAIN), 'must be a StorageClass name')
    .optional()
    .meta({ description: "Class of the new claims; unset: the original claim's class." }),
});

export const volumeResizeSpecSchema = z
  .object({
    statefulSetName: z
      .string()
      .min(1)
      .max(253)
      .regex(new RegExp(DNS1123_SUBDOMAIN), 'must be a StatefulSet name')
      .meta({ description: 'The StatefulSet whose claims shrink, in the same namespace.' }),
    volumes: z
      .array(volume)
      .min(1)
      .max(16)
      .meta({
        description: 'The volumes to shrink.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    dryRun: z.boolean().default(false).meta({ description: 'Stop after writing the plan to status.' }),
    preSync: z
      .boolean()
      .default(false)
      .meta({ description: 'Copy while the app runs, then a final sync after it stops (shorter downtime).' }),
    usedBytesMargin: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(10)
      .meta({ description: 'Percent: newSize must exceed the used bytes by this margin.' }),
    migratorImage: z.string().min(1).max(512).optional().meta({
      description:
        "Image with rclone and du for the migrator and probe pods; default: the operator's MS2M_MIGRATOR_IMAGE.",
    }),
    cancel: z.boolean().default(false).meta({ description: 'Cancel and roll back; retained volumes keep the data.' }),
  })
  .meta({ description: 'What to shrink and how.' });

export type VolumeResizeSpecInput = z.input<typeof volumeResizeSpecSchema>;
export type VolumeResizeSpecParsed = z.output<typeof volumeResizeSpecSchema>;

const rules: SpecRule<VolumeResizeSpecParsed>[] = [
  {
    // a zero quantity in any notation (0, 0.0, 0Gi, 0e3); the schema's pattern already refuses the rest
    cel: "self.volumes.all(v, !v.newSize.matches('^[+]?0*([.]0*)?([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$'))",
    holds: (s) => s.volumes.every((v) => (quantityBytes(v.newSize) ?? 0) > 0),
    message: 'every newSize must be larger than 0',
    fieldPath: '.volumes',
  },
];

export const volumeResizeStatusSchema = z
  .object({
    phase: z.enum(VR_PHASES).optional(),
    conditions: conditionsSchema(),
    plan: z
      .array(
        z.object({
          order: z.number().int().min(1),
          step: z.string(),
          action: z.string(),
          kind: z.string(),
          name: z.string(),
          detail: z.string(),
        }),
      )
      .optional()
      .meta({ description: 'Every object to be scaled, deleted, created or rebound, in order.' }),
    volumeStatuses: z
      .array(
        z.object({
          volumeName: z.string(),
          replica: z.number().int().min(0),
          phase: z.string(),
          oldPVCName: z.string(),
          newPVCName: z.string(),
          oldPVName: z.string().optional(),
          newPVName: z.string().optional(),
          usedBytes: z.number().int().min(0).optional(),
          bytesCopied: z.number().int().min(0),
          bytesTotal: z.number().int().min(0),
          message: z.string().optional(),
        }),
      )
      .optional(),
    currentReplica: z.number().int().min(0).optional(),
    currentVolume: z.string().optional(),
    message: z.string().optional(),
    startTime: z.string().meta({ format: 'date-time' }).optional(),
    completionTime: z.string().meta({ format: 'date-time' }).optional(),
    phaseTimingsMs: z.record(z.string(), z.number()).optional().meta({ description: 'Phase -> exact milliseconds.' }),
    observedGeneration: z.number().int().min(0).optional(),
    eventLog: z.string().optional().meta({ description: "Where this resize's event log lives." }),
  })
  .meta({ description: 'Observed state, projected from the event log.' });

export type VolumeResizeStatusWire = z.input<typeof volumeResizeStatusSchema>;

export const volumeResizeResource: ResourceDefinition<typeof volumeResizeSpecSchema, typeof volumeResizeStatusSchema> =
  {
    group: 'storage.ms2m.io',
    version: 'v1alpha1',
    kind: 'VolumeResize',
    plural: 'volumeresizes',
    singular: 'volumeresize',
    shortNames: ['vr'],
    categories: ['ms2m'],
    description:
      'Shrinks the volumes of a StatefulSet: validates, copies each claim to a smaller one with rclone and checksums, rebinds the original claim names; old volumes are retained.',
    spec: volumeResizeSpecSchema,
    status: volumeResizeStatusSchema,
    rules,
    // the migrator pod is named <vr>-migrator-<n>-<vol> and the name is a label value
    maxNameLength: { length: 40, why: 'it names the migrator pods <name>-migrator-<n>-<volume> and is a label value' },
    frozenSpec: {
      editableInPhases: [],
      mutable: ['cancel'],
      message:
        'The spec of a VolumeResize is fixed once the controller has started it (only spec.cancel may change): create a new VolumeResize instead',
    },
    transitionRules: [
      { cel: '!oldSelf.cancel || self.cancel', message: 'cancel cannot be undone', fieldPath: '.cancel' },
    ],
    printerColumns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'StatefulSet', type: 'string', jsonPath: '.spec.statefulSetName' },
      { name: 'Replica', type: 'integer', jsonPath: '.status.currentReplica' },
      { name: 'Volume', type: 'string', jsonPath: '.status.currentVolume' },
      { name: 'DryRun', type: 'boolean', jsonPath: '.spec.dryRun', priority: 1 },
      { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  };
