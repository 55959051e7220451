import { z } from 'zod';

/** Body of the kubelet checkpoint answer: `{"items":["/var/lib/kubelet/checkpoints/checkpoint-....tar"]}`. */
export const CheckpointResponseWire = z.object({ items: z.array(z.string()).nullish() });
export type CheckpointResponseWire = z.infer<typeof CheckpointResponseWire>;

/**
 * The API server's own error answer on the proxy path (a `Status` object): the request never reached the kubelet,
 * or the API server refused to send it (`address not allowed`, a missing Node, RBAC). The kubelet's own errors are
 * plain text, so a body of this shape tells the two apart.
 */
export const ApiStatusWire = z.object({
  kind: z.literal('Status'),
  apiVersion: z.string(),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
});
export type ApiStatusWire = z.infer<typeof ApiStatusWire>;
