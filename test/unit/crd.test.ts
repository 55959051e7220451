import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { generatedManifests } from '../../actors/crd/manifests.ts';
import { toStructuralSchema } from '../../actors/crd/openapi.ts';
import { validateSpec } from '../../actors/crd/resource.ts';
import { statefulMigrationResource } from '../../actors/crd/stateful-migration.ts';
import { normalizeSpec } from '../../actors/migration-spec.ts';

const root = join(import.meta.dirname, '../..');
const valid = {
  sourcePod: 'consumer-0',
  targetNode: 'node-b',
  messageQueueConfig: { queueName: 'orders', brokerUrl: 'amqp://mq:5672', exchangeName: 'orders-fanout' },
};
const object = 'StatefulMigration default/m1';

describe('crds/ is generated from actors/crd (run `npm run crds` after changing a schema)', () => {
  for (const [file, text] of Object.entries(generatedManifests())) {
    it(`crds/${file} is current`, () => {
      expect(readFileSync(join(root, 'crds', file), 'utf8')).toBe(text);
    });
  }

  it('the CRD keeps the names, printer columns and status subresource of API.md', () => {
    const [crd] = loadAllYaml(generatedManifests()['statefulmigration.crd.yaml'] ?? '') as Array<{
      spec: {
        group: string;
        names: { kind: string; shortNames: string[] };
        versions: Array<{
          name: string;
          subresources: unknown;
          additionalPrinterColumns: Array<{ name: string }>;
          schema: { openAPIV3Schema: { properties: { spec: { required: string[] } } } };
        }>;
      };
    }>;
    expect(crd?.spec.group).toBe('migration.ms2m.io');
    expect(crd?.spec.names).toMatchObject({ kind: 'StatefulMigration', shortNames: ['smig'] });
    const v = crd?.spec.versions[0];
    expect(v?.name).toBe('v1alpha1');
    expect(v?.subresources).toEqual({ status: {} });
    expect(v?.additionalPrinterColumns.map((c) => c.name)).toEqual([
      'Phase',
      'Source',
      'Target',
      'Strategy',
      'Transfer',
      'Total',
      'Age',
    ]);
    expect(v?.schema.openAPIV3Schema.properties.spec.required.sort()).toEqual([
      'messageQueueConfig',
      'sourcePod',
      'targetNode',
    ]);
  });
});

describe('structural schema conversion', () => {
  it('keeps enums, defaults, bounds and patterns, and drops the safe-integer bounds of .int()', () => {
    const s = toStructuralSchema(
      z.object({
        n: z.number().int().min(1).default(2),
        e: z.enum(['A', 'B']).optional(),
        p: z.string().regex(/^x+$/),
      }),
    );
    expect(s).toEqual({
      type: 'object',
      properties: {
        n: { type: 'integer', minimum: 1, default: 2 },
        e: { type: 'string', enum: ['A', 'B'] },
        p: { type: 'string', pattern: '^x+$' },
      },
      required: ['p'],
    });
  });

  it('refuses what a structural schema cannot express instead of dropping it', () => {
    expect(() => toStructuralSchema(z.object({ u: z.union([z.string(), z.number()]) }))).toThrow(
      /\.u: "anyOf" cannot be expressed in a structural schema/,
    );
  });
});

describe('runtime validation from the same source', () => {
  it('applies the defaults the API server applies', () => {
    expect(validateSpec(statefulMigrationResource, object, valid)).toMatchObject({
      replayMode: 'Cutoff',
      replayMaxSeconds: 120,
      drainStallSeconds: 30,
      cancel: false,
      finalizeDeploymentMode: 'Adopt',
    });
  });

  it.each([
    [{ ...valid, sourcePod: 'Bad_Name' }, 'spec.sourcePod: must be a DNS-1123 subdomain'],
    [{ ...valid, containerName: 'a'.repeat(64) }, 'spec.containerName'],
    [{ ...valid, replayCutoffSeconds: -1 }, 'spec.replayCutoffSeconds'],
    [{ ...valid, replayMaxSeconds: 0 }, 'spec.replayMaxSeconds'],
    [{ ...valid, checkpointImageRepository: 'registry:5000/app:checkpoint' }, 'spec.checkpointImageRepository'],
    [
      { ...valid, messageQueueConfig: { ...valid.messageQueueConfig, brokerUrl: 'http://mq' } },
      'spec.messageQueueConfig.brokerUrl: must be an amqp:// or amqps:// URL',
    ],
    [
      { ...valid, messageQueueConfig: { queueName: 'q', exchangeName: 'x' } },
      'spec.messageQueueConfig.brokerUrl: set messageQueueConfig.brokerUrl or brokerSecretRef',
    ],
    [
      { ...valid, transferMode: 'Registry' },
      'spec.checkpointImageRepository: checkpointImageRepository is required when transferMode is Registry',
    ],
    [
      { ...valid, replayCutoffSeconds: 200, replayMaxSeconds: 100 },
      'spec.replayCutoffSeconds: replayCutoffSeconds must not exceed replayMaxSeconds',
    ],
    [
      { ...valid, messageQueueConfig: { ...valid.messageQueueConfig, queueName: 'amq.gen-1' } },
      'spec.messageQueueConfig.queueName: queue names starting with "amq." are reserved',
    ],
    [{ ...valid, phaseDeadlines: { Pending: 0 } }, 'spec.phaseDeadlines.Pending'],
  ])('rejects %j naming the field', (spec, message) => {
    expect(() => validateSpec(statefulMigrationResource, object, spec)).toThrow(message);
    expect(() => validateSpec(statefulMigrationResource, object, spec)).toThrow(/^StatefulMigration default\/m1: /);
  });

  it("normalizeSpec refuses a name longer than the label value it becomes (the admission rule's twin)", () => {
    const meta = { namespace: 'default', name: `m-${'x'.repeat(62)}`, uid: 'u1' };
    expect(() => normalizeSpec(meta, valid)).toThrow(/metadata.name must be at most 63 characters/);
    expect(() => normalizeSpec({ ...meta, name: 'x'.repeat(63) }, valid)).not.toThrow();
  });

  it('normalizeSpec resolves SHADOW defaults on top (transfer mode from the repository)', () => {
    const meta = { namespace: 'default', name: 'm1', uid: 'u1' };
    expect(normalizeSpec(meta, valid).transferMode).toBe('Direct');
    expect(normalizeSpec(meta, { ...valid, checkpointImageRepository: 'registry.local:5000/ms2m' }).transferMode).toBe(
      'Registry',
    );
    expect(normalizeSpec(meta, { ...valid, phaseDeadlines: { Replaying: 5 } }).phaseDeadlines).toMatchObject({
      Replaying: 5,
      Pending: 60,
    });
  });
});
