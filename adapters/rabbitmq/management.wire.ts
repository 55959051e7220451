/**
 * The RabbitMQ management HTTP API's queue object (`GET /api/queues/<vhost>/<name>`), only the fields ms2m
 * reads. Statistics are sampled every `collect_statistics_interval` (default 5 s), so they lag.
 */
import { z } from 'zod';

const rate = z.object({ rate: z.number() }).partial().optional();

export const managementQueueSchema = z.object({
  name: z.string(),
  messages_ready: z.number().optional(),
  messages_unacknowledged: z.number().optional(),
  messages: z.number().optional(),
  consumers: z.number().optional(),
  message_stats: z
    .object({
      ack_details: rate,
      deliver_get_details: rate,
      publish_details: rate,
    })
    .partial()
    .optional(),
});

export type ManagementQueue = z.infer<typeof managementQueueSchema>;
