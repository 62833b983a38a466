import { createRoute, z } from '@hono/zod-openapi';
import { REFUSAL_REASONS } from '../../../auth/reasons';
import { errorResponses } from '../errors';
import { newRouter } from '../router';

const ReasonSchema = z
  .object({
    title: z.string(),
    mqtt5: z.number().int().openapi({ description: 'MQTT 5 CONNACK reason code' }),
    mqtt3: z.number().int().openapi({ description: 'MQTT 3.1.1 CONNACK return code' }),
    explanation: z.string(),
    solution: z.string(),
  })
  .openapi('RefusalReason');

const list = createRoute({
  method: 'get',
  path: '/reasons',
  tags: ['Unauthorized clients'],
  summary: 'The catalogue of refusal reasons, keyed by reasonCode',
  responses: {
    200: { description: 'Reasons by code', content: { 'application/json': { schema: z.record(z.string(), ReasonSchema).openapi('ReasonCatalogue') } } },
    ...errorResponses(401),
  },
});

export const reasonRoutes = newRouter().openapi(list, function listReasons(c) {
  return c.json({ ...REFUSAL_REASONS } as Record<string, z.infer<typeof ReasonSchema>>, 200);
});
