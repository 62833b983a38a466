import { createRoute, z } from '@hono/zod-openapi';
import { onEveryShard } from '../broker';
import { errorResponses } from '../errors';
import { newRouter } from '../router';
import { DURABLE_OBJECT_EVENT_KEYS, STATS_COUNTER_KEYS, StatsSampleSchema, StatsSchema, type DurableObjectEvents, type StatsSample } from '../contract/broker';
import { timeParam } from '../schemas';

const tags = ['Statistics'];

const current = createRoute({
  method: 'get',
  path: '/stats',
  tags,
  summary: 'Broker counters now (cumulative counters count since startedAt)',
  responses: { 200: { description: 'Counters', content: { 'application/json': { schema: StatsSchema } } }, ...errorResponses(401, 503) },
});
const history = createRoute({
  method: 'get',
  path: '/stats/history',
  tags,
  summary: 'Per-minute samples of the last 24 hours, taken while clients were connected',
  request: { query: z.object({ from: timeParam.optional(), to: timeParam.optional() }) },
  responses: {
    200: { description: 'Samples, oldest first', content: { 'application/json': { schema: z.object({ data: z.array(StatsSampleSchema) }).openapi('StatsHistory') } } },
    ...errorResponses(400, 401, 503),
  },
});

type Counters = Omit<StatsSample, 'at'>;

function sum<T extends Counters>(rows: T[]): Counters {
  const out = Object.fromEntries(STATS_COUNTER_KEYS.map((k) => [k, 0])) as Counters;
  for (const r of rows) for (const k of STATS_COUNTER_KEYS) out[k] += r[k];
  return out;
}

export const statsRoutes = newRouter()
  .openapi(current, async function getStats(c) {
    const all = await onEveryShard(c.env, (s) => s.stats());
    if (all.length === 1) return c.json(all[0], 200);
    const startedAt = all.map((s) => s.startedAt).sort()[0];
    const events = Object.fromEntries(DURABLE_OBJECT_EVENT_KEYS.map((k) => [k, 0])) as DurableObjectEvents;
    for (const s of all) for (const k of DURABLE_OBJECT_EVENT_KEYS) events[k] += s.durableObject[k];
    return c.json(
      { ...sum(all), at: new Date().toISOString(), startedAt, uptimeSeconds: Math.max(...all.map((s) => s.uptimeSeconds)), durableObject: events },
      200,
    );
  })
  .openapi(history, async function getStatsHistory(c) {
    const q = c.req.valid('query');
    const all = await onEveryShard(c.env, (s) => s.statsHistory({ from: q.from?.getTime(), to: q.to?.getTime() }));
    if (all.length === 1) return c.json({ data: all[0] }, 200);
    // Shards sample on their own clocks: samples are summed per minute.
    const byMinute = new Map<string, Array<(typeof all)[number][number]>>();
    for (const rows of all) for (const r of rows) byMinute.set(r.at.slice(0, 16), [...(byMinute.get(r.at.slice(0, 16)) ?? []), r]);
    const data = [...byMinute.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([minute, rows]) => ({ at: `${minute}:00.000Z`, ...sum(rows) }));
    return c.json({ data }, 200);
  });
