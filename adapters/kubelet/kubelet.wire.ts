import { z } from 'zod';

/** Body of the kubelet checkpoint answer: `{"items":["/var/lib/kubelet/checkpoints/checkpoint-....tar"]}`. */
export const CheckpointResponseWire = z.object({ items: z.array(z.string()).nullish() });
export type CheckpointResponseWire = z.infer<typeof CheckpointResponseWire>;
