/**
 * A custom resource described once: its names, spec and status schemas (zod), the cross-field rules (one CEL
 * expression for the API server and one TypeScript predicate for the runtime, side by side), and the printer
 * columns. `toCustomResourceDefinition` makes the CRD object written to crds/; `validateSpec` is the runtime
 * check the controller runs on what it reads.
 */
import type { z } from 'zod';
import { InvalidInputError } from '../../adapters/errors.ts';
import { type OpenApiSchema, toStructuralSchema } from './openapi.ts';

/**
 * A rule spanning several fields. `cel` runs in the API server (x-kubernetes-validations on the spec), `holds`
 * in the runtime; the control-plane CRD tests check that both agree on generated specs.
 */
export interface SpecRule<Spec> {
  /** CEL over `self` = the spec. */
  cel: string;
  holds: (spec: Spec) => boolean;
  message: string;
  /** JSON path of the field the message is about, relative to the spec (`.messageQueueConfig.brokerUrl`). */
  fieldPath: string;
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface ResourceDefinition<Spec extends z.ZodType, Status extends z.ZodType> {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories?: string[];
  description: string;
  spec: Spec;
  status: Status;
  rules: SpecRule<z.output<Spec>>[];
  /** Rules comparing the new spec with the old one (CEL `oldSelf`); enforced by the API server only. */
  transitionRules?: Array<{ cel: string; message: string; fieldPath?: string }>;
  printerColumns: PrinterColumn[];
  /**
   * The spec is fixed once the controller has set `status.phase` to anything but these phases, except the
   * `mutable` fields.
   * Enforced at admission by a ValidatingAdmissionPolicy (it sees the old status, a CRD rule does not).
   */
  frozenSpec?: { editableInPhases: string[]; mutable: string[]; message: string };
  /** The longest `metadata.name` (e.g. 63 when the name becomes a label value); checked at admission. */
  maxNameLength?: { length: number; why: string };
}

/**
 * @example
 * ```ts
 * const crd = toCustomResourceDefinition(statefulMigrationResource); // wire-shaped JSON
 * await customObjects.createClusterCustomObject({ group: 'apiextensions.k8s.io', version: 'v1',
 *   plural: 'customresourcedefinitions', body: crd });
 * // YAML: generatedManifests() in manifests.ts (client-node's dumpYaml alone drops enum, default, x-kubernetes-*)
 * ```
 */
export function toCustomResourceDefinition(def: ResourceDefinition<z.ZodType, z.ZodType>): Record<string, unknown> {
  const spec = toStructuralSchema(def.spec);
  const rules = [
    ...def.rules.map((r) => ({ rule: r.cel, message: r.message, fieldPath: r.fieldPath })),
    ...(def.transitionRules ?? []).map((r) => ({
      rule: r.cel,
      message: r.message,
      ...(r.fieldPath ? { fieldPath: r.fieldPath } : {}),
    })),
  ];
  if (rules.length) spec['x-kubernetes-validations'] = rules;
  const root: OpenApiSchema = {
    type: 'object',
    description: def.description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec,
      status: toStructuralSchema(def.status),
    },
    ...(def.maxNameLength
      ? {
          'x-kubernetes-validations': [
            {
              rule: `self.metadata.name.size() <= ${def.maxNameLength.length}`,
              message: `metadata.name must be at most ${def.maxNameLength.length} characters: ${def.maxNameLength.why}`,
            },
          ],
        }
      : {}),
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${def.group}` },
    spec: {
      group: def.group,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        ...(def.categories ? { categories: def.categories } : {}),
      },
      scope: 'Namespaced',
      versions: [
        {
          name: def.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
          schema: { openAPIV3Schema: root },
        },
      ],
    },
  };
}

/**
 * Validates a spec as the API server would (schema and cross-field rules) and applies the schema's defaults.
 * Bad input is one InvalidInputError that lists every problem with its `spec.<field>` path.
 *
 * As the API server does with a structural schema: unknown fields are dropped (zod strips them) and a `null`
 * field counts as absent (the server prunes nulls of non-nullable fields before defaulting, so `{replayMaxSeconds:
 * null}` is defaulted and a null required field is missing). The CEL rules run only on a spec that passed the
 * schema, as on the server ("some validation rules were not checked").
 *
 * @example
 * ```ts
 * const spec = validateSpec(statefulMigrationResource, 'StatefulMigration default/m1', cr.spec);
 * ```
 */
export function validateSpec<Spec extends z.ZodType>(
  def: Pick<ResourceDefinition<Spec, z.ZodType>, 'spec' | 'rules'>,
  object: string,
  raw: unknown,
): z.output<Spec> {
  const parsed = def.spec.safeParse(withoutNulls(raw));
  const problems = parsed.success
    ? def.rules.filter((r) => !r.holds(parsed.data)).map((r) => `spec${r.fieldPath}: ${r.message}`)
    : parsed.error.issues.map((i) => `${['spec', ...i.path].join('.')}: ${i.message}`);
  if (!parsed.success || problems.length > 0)
    throw new InvalidInputError(object, `invalid spec: ${problems.join('; ')}`, { problems });
  return parsed.data;
}

/** `raw` with every null-valued object field removed, at any depth (the API server's pruning of nulls). */
function withoutNulls(raw: unknown): unknown {
  if (raw === null) return undefined;
  if (Array.isArray(raw)) return raw.map((v) => (v === null ? v : withoutNulls(v)));
  if (typeof raw !== 'object') return raw;
  // fromEntries: a `__proto__` key stays an own field (pruned by the schema), never a prototype
  return Object.fromEntries(
    Object.entries(raw)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

/**
 * The ValidatingAdmissionPolicy (+ binding) that refuses spec changes after the editable phases, generated from
 * the spec's field list so that a new field is frozen too. Empty when the resource has no frozen spec.
 *
 * @example
 * ```ts
 * const [policy, binding] = frozenSpecPolicy(statefulMigrationResource); // YAML: generatedManifests()
 * ```
 */
export function frozenSpecPolicy(def: ResourceDefinition<z.ZodType, z.ZodType>): Record<string, unknown>[] {
  const frozen = def.frozenSpec;
  if (!frozen) return [];
  const shape = (def.spec as unknown as { shape?: Record<string, unknown> }).shape;
  if (!shape) throw new Error(`${def.kind}: a frozen spec needs an object spec schema`);
  const same = Object.keys(shape)
    .filter((f) => !frozen.mutable.includes(f))
    .map(
      (f) =>
        `(has(object.spec.${f}) ? has(oldObject.spec.${f}) && object.spec.${f} == oldObject.spec.${f} : !has(oldObject.spec.${f}))`,
    );
  const phases = frozen.editableInPhases.map((p) => `'${p}'`).join(', ');
  const name = `${def.plural}-spec-frozen.${def.group}`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [def.group],
              apiVersions: [def.version],
              operations: ['UPDATE'],
              resources: [def.plural],
            },
          ],
        },
        validations: [
          {
            expression: [
              '!has(oldObject.status) || !has(oldObject.status.phase)',
              ...(phases ? [`oldObject.status.phase in [${phases}]`] : []),
              `(${same.join(' && ')})`,
            ].join(' || '),
            message: frozen.message,
            reason: 'Forbidden',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'] },
    },
  ];
}
