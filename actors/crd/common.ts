/**
 * Schema pieces every custom resource of ms2m shares (StatefulMigration, VolumeResize): Kubernetes name patterns
 * and the status conditions in the shape `kubectl wait --for=condition` and the API conventions expect.
 */
import { z } from 'zod';

/** RFC 1123 subdomain, as Kubernetes object names (pods, nodes, secrets, storage classes). */
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** RFC 1123 label, as container names and volumeClaimTemplate names. */
export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

/** One condition of a status (metav1.Condition). */
const condition = z.object({
  type: z.string().min(1).max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().max(1024),
  message: z.string().max(32768),
  lastTransitionTime: z.string().meta({ format: 'date-time' }),
  observedGeneration: z.number().int().min(0).optional(),
});

/** `status.conditions`: a list map keyed by `type`. */
export const conditionsSchema = () =>
  z
    .array(condition)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
