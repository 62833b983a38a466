import { createRoute, z } from '@hono/zod-openapi';
import { recordAudit } from '../audit';
import { onEveryShard } from '../broker';
import { errorResponses, invalid, notFound } from '../errors';
import { newRouter } from '../router';
import { compareRetained, RetainedListQuery, RetainedSchema } from '../contract/broker';
import { OkSchema, pageSchema } from '../schemas';
import { pagedFromShards } from './shard-pages';

const TopicParam = z.object({ topic: z.string().min(1).max(65535).openapi({ param: { name: 'topic', in: 'path' }, description: 'URL-encoded topic (`/` as %2F)', example: 'sensors%2F17%2Ftemp' }) });

const tags = ['Retained messages'];

const list = createRoute({
  method: 'get',
  path: '/retained',
  tags,
  summary: 'Retained messages',
  request: {
    query: RetainedListQuery,
  },
  responses: {
    200: { description: 'A page of retained messages', content: { 'application/json': { schema: pageSchema(RetainedSchema, 'RetainedPage') } } },
    ...errorResponses(400, 401, 503),
  },
});
const getOne = createRoute({
  method: 'get',
  path: '/retained/{topic}',
  tags,
  summary: 'One retained message with its whole payload',
  request: { params: TopicParam },
  responses: { 200: { description: 'The message', content: { 'application/json': { schema: RetainedSchema } } }, ...errorResponses(401, 404, 503) },
});
const deleteOne = createRoute({
  method: 'delete',
  path: '/retained/{topic}',
  tags,
  summary: 'Delete one retained message',
  request: { params: TopicParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404, 503) },
});
const deleteAll = createRoute({
  method: 'delete',
  path: '/retained',
  tags,
  summary: 'Delete every retained message',
  responses: { 200: { description: 'How many were deleted', content: { 'application/json': { schema: OkSchema } } }, ...errorResponses(401, 403, 503) },
});

export const retainedRoutes = newRouter()
  .openapi(list, async function listRetained(c) {
    const q = c.req.valid('query');
    const query = { topic: q.topic, filter: q.filter, from: q.from?.getTime(), to: q.to?.getTime() };
    const page = await pagedFromShards(c.env, q, (s, range) => s.listRetained({ ...query, ...range }), compareRetained);
    if (!page) throw invalid('filter', 'not a valid MQTT topic filter');
    return c.json(page, 200);
  })
  .openapi(getOne, async function getRetained(c) {
    const { topic } = c.req.valid('param');
    // A topic's retained message lives on one shard, which need not be any client's: ask them all.
    const found = (await onEveryShard(c.env, async (s, shard) => {
      const message = await s.getRetained(topic);
      return message && { ...message, shard };
    })).find((m) => m !== null);
    if (!found) throw notFound('Retained message');
    return c.json(found, 200);
  })
  .openapi(deleteOne, async function deleteRetained(c) {
    const { topic } = c.req.valid('param');
    // Every shard is asked, so a delete is complete wherever the message lived; 404 only when none had it.
    if (!(await onEveryShard(c.env, (s) => s.deleteRetained(topic))).some(Boolean)) throw notFound('Retained message');
    await recordAudit(c, 'delete', 'retained', topic);
    return c.body(null, 204);
  })
  .openapi(deleteAll, async function deleteAllRetained(c) {
    const deleted = (await onEveryShard(c.env, (s) => s.deleteAllRetained())).reduce((a, b) => a + b, 0);
    await recordAudit(c, 'delete-all', 'retained', null, { deleted });
    return c.json({ deleted }, 200);
  });
