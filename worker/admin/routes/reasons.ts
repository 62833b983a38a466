import { createRoute, z } from '@hono/zod-openapi';
import { REFUSAL_REASONS } from '../../../auth/reasons';
import { errorResponses } from '../errors';
import { newRouter } from '../router';
import { ReasonSchema } from '../contract/security';

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
