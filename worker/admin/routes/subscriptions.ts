import { createRoute } from '@hono/zod-openapi';
import { errorResponses } from '../errors';
import { newRouter } from '../router';
import { compareSubscriptions, SubscriptionListQuery, SubscriptionSchema } from '../contract/broker';
import { pageSchema } from '../schemas';
import { pagedFromShards } from './shard-pages';

const list = createRoute({
  method: 'get',
  path: '/subscriptions',
  tags: ['Subscriptions'],
  summary: 'Every subscription of every session',
  request: {
    query: SubscriptionListQuery,
  },
  responses: {
    200: { description: 'A page of subscriptions', content: { 'application/json': { schema: pageSchema(SubscriptionSchema, 'SubscriptionPage') } } },
    ...errorResponses(400, 401, 503),
  },
});

export const subscriptionRoutes = newRouter().openapi(list, async function listSubscriptions(c) {
  const q = c.req.valid('query');
  const page = await pagedFromShards(c.env, q, (s, range) => s.listSubscriptions({ ...q, ...range }), compareSubscriptions);
  return c.json(page!, 200);
});
