import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses } from '../errors';
import { newRouter } from '../router';
import { booleanParam, isoTime, pageParams, pageSchema } from '../schemas';
import { pagedFromShards } from './shard-pages';

export const SubscriptionSchema = z
  .object({
    clientId: z.string(),
    topicFilter: z.string().openapi({ description: 'The filter without any `$share/<group>/` prefix' }),
    shareGroup: z.string().nullable(),
    qos: z.number().int(),
    noLocal: z.boolean(),
    retainAsPublished: z.boolean(),
    retainHandling: z.number().int(),
    subscriptionIdentifier: z.number().int().nullable(),
    createdAt: isoTime,
  })
  .openapi('Subscription');

const qosList = z
  .string()
  .regex(/^[012](,[012])*$/, 'must be a comma-separated list of 0, 1, 2')
  .transform((s) => s.split(',').map(Number))
  .openapi({ type: 'string', example: '1,2' });

const list = createRoute({
  method: 'get',
  path: '/subscriptions',
  tags: ['Subscriptions'],
  summary: 'Every subscription of every session',
  request: {
    query: z.object({
      clientId: z.string().max(512).optional().openapi({ description: 'Substring of the client id' }),
      topicFilter: z.string().max(4096).optional().openapi({ description: 'Substring of the topic filter, case-insensitive' }),
      qos: qosList.optional(),
      shareGroup: z.string().max(256).optional().openapi({ description: 'Exact shared subscription group' }),
      shared: booleanParam.optional().openapi({ description: 'true: only shared subscriptions; false: only direct ones' }),
      ...pageParams,
    }),
  },
  responses: {
    200: { description: 'A page of subscriptions', content: { 'application/json': { schema: pageSchema(SubscriptionSchema, 'SubscriptionPage') } } },
    ...errorResponses(400, 401, 503),
  },
});

type Row = z.infer<typeof SubscriptionSchema>;
const byFilter = (a: Row, b: Row) => (a.topicFilter < b.topicFilter ? -1 : a.topicFilter > b.topicFilter ? 1 : a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0);

export const subscriptionRoutes = newRouter().openapi(list, async function listSubscriptions(c) {
  const q = c.req.valid('query');
  const page = await pagedFromShards(c.env, q, (s, range) => s.listSubscriptions({ ...q, ...range }), byFilter);
  return c.json(page!, 200);
});
