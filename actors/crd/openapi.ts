/**
 * zod schema -> structural OpenAPI v3 schema for a CustomResourceDefinition.
 *
 * The zod schema is the single source: the CRD YAML is generated from it, the TypeScript types are `z.input` /
 * `z.output` of it, and runtime validation is `schema.safeParse`. Only what a structural schema can express is
 * allowed through; anything else (unions, `not`, refs, tuples) fails generation instead of being dropped silently.
 */
import { z } from 'zod';

/** The subset of JSONSchemaProps (apiextensions.k8s.io/v1) that generated schemas use. */
export interface OpenApiSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  additionalProperties?: OpenApiSchema;
  items?: OpenApiSchema;
  enum?: unknown[];
  default?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  'x-kubernetes-validations'?: Array<{ rule: string; message?: string; fieldPath?: string; reason?: string }>;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

const KEEP = new Set<string>([
  'type',
  'description',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'default',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minItems',
  'maxItems',
  'nullable',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-map-type',
]);
/** zod's bounds for `.int()`: JavaScript's safe-integer range, which a CRD integer (int64) needs no word on. */
const SAFE_INT = Number.MAX_SAFE_INTEGER;

/**
 * Converts a zod schema (objects, strings, numbers, booleans, enums, arrays, records; with defaults, patterns
 * and `.meta()` extensions such as `x-kubernetes-validations`) into a structural OpenAPI v3 schema.
 *
 * @example
 * ```ts
 * const spec = toStructuralSchema(z.object({ replicas: z.number().int().min(0).default(1) }));
 * // { type: 'object', properties: { replicas: { type: 'integer', minimum: 0, default: 1 } } }
 * ```
 */
export function toStructuralSchema(schema: z.ZodType): OpenApiSchema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' });
  return clean(json as Record<string, unknown>, '');
}

function clean(node: Record<string, unknown>, path: string): OpenApiSchema {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === 'id') continue;
    if (key === 'additionalProperties' && value === false) continue; // unknown fields are pruned by the API server
    if (!KEEP.has(key))
      throw new Error(`CRD schema at ${path || '<root>'}: "${key}" cannot be expressed in a structural schema`);
    out[key] = value;
  }
  if (out.type === 'integer') {
    if (out.maximum === SAFE_INT) delete out.maximum;
    if (out.minimum === -SAFE_INT) delete out.minimum;
  }
  if (out.format === 'date-time') delete out.pattern; // the API server checks the format itself
  if (!out.type && !out['x-kubernetes-preserve-unknown-fields'])
    throw new Error(`CRD schema at ${path || '<root>'}: every node of a structural schema needs a type`);
  if (out.properties) {
    const props: Record<string, OpenApiSchema> = {};
    for (const [k, v] of Object.entries(out.properties as Record<string, Record<string, unknown>>))
      props[k] = clean(v, `${path}.${k}`);
    out.properties = props;
  }
  if (out.additionalProperties && typeof out.additionalProperties === 'object')
    out.additionalProperties = clean(out.additionalProperties as Record<string, unknown>, `${path}[*]`);
  if (out.items) out.items = clean(out.items as Record<string, unknown>, `${path}[]`);
  return out as OpenApiSchema;
}
