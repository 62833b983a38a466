import { createRoute, z } from '@hono/zod-openapi';
import { onEveryShard } from '../broker';
import { clusterHistory, clusterStats } from '../cluster-stats';
import { errorResponses } from '../errors';
import { newRouter } from '../router';
import { StatsSampleSchema, StatsSchema } from '../contract/broker';
import { timeParam } from '../schemas';

const tags = ['Statistics'];

const current = createRoute({
  method: 'get',
  path: '/stats',
  tags,
  summary: 'Broker counters now, summed over the shards, with each shard on its own (cumulative counters count since startedAt)',
  responses: { 200: { description: 'Counters', content: { 'application/json': { schema: StatsSchema } } }, ...errorResponses(401, 503) },
});
const history = createRoute({
  method: 'get',
  path: '/stats/history',
  tags,
  summary: 'Per-minute samples of the last 24 hours, summed over the shards, taken while clients were connected',
  request: { query: z.object({ from: timeParam.optional(), to: timeParam.optional() }) },
  responses: {
    200: { description: 'Samples, oldest first', content: { 'application/json': { schema: z.object({ data: z.array(StatsSampleSchema) }).openapi('StatsHistory') } } },
    ...errorResponses(400, 401, 503),
  },
});

export const statsRoutes = newRouter()
  .openapi(current, async function getStats(c) {
    return c.json(clusterStats(await onEveryShard(c.env, (s) => s.stats()), Date.now()), 200);
  })
  .openapi(history, async function getStatsHistory(c) {
    const q = c.req.valid('query');
    const all = await onEveryShard(c.env, (s) => s.statsHistory({ from: q.from?.getTime(), to: q.to?.getTime() }));
    return c.json({ data: clusterHistory(all) }, 200);
  });
