import { createRoute, z } from '@hono/zod-openapi';
import { onEveryShard } from '../broker';
import { errorResponses } from '../errors';
import { newRouter } from '../router';
import { isoTime, timeParam } from '../schemas';

const counters = {
  connections: z.number().int().openapi({ description: 'MQTT clients connected now' }),
  connectionsTotal: z.number().int().openapi({ description: 'Accepted connections since counters started' }),
  messagesIn: z.number().int().openapi({ description: 'MQTT packets received (all types)' }),
  messagesOut: z.number().int().openapi({ description: 'MQTT packets sent (all types)' }),
  publishIn: z.number().int(),
  publishOut: z.number().int(),
  bytesIn: z.number().int(),
  bytesOut: z.number().int(),
  dropped: z.number().int().openapi({ description: 'Messages dropped (full queues, oversize for a client, retained limit)' }),
  authFailures: z.number().int(),
  sessions: z.number().int(),
  subscriptions: z.number().int(),
  retained: z.number().int(),
};

const durableObject = z
  .object({
    webSocketMessagesIn: z.number().int().openapi({ description: 'WebSocket messages the shards received (each billed as 1/20 request)' }),
    webSocketMessagesOut: z.number().int().openapi({ description: 'WebSocket messages the shards sent' }),
    upgrades: z.number().int().openapi({ description: 'WebSocket upgrades the shards accepted (one request each)' }),
    alarms: z.number().int().openapi({ description: 'Alarm invocations (one request each)' }),
  })
  .openapi('DurableObjectEvents', { description: 'Billed Durable Object events since startedAt; see docs/cost.md' });

const SampleSchema = z.object({ at: isoTime, ...counters }).openapi('StatsSample');
const StatsSchema = z
  .object({ at: isoTime, startedAt: isoTime, uptimeSeconds: z.number().int(), ...counters, durableObject })
  .openapi('Stats');

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
    200: { description: 'Samples, oldest first', content: { 'application/json': { schema: z.object({ data: z.array(SampleSchema) }).openapi('StatsHistory') } } },
    ...errorResponses(400, 401, 503),
  },
});

type Counters = { [K in keyof typeof counters]: number };
const KEYS = Object.keys(counters) as (keyof Counters)[];

function sum<T extends Counters>(rows: T[]): Counters {
  const out = Object.fromEntries(KEYS.map((k) => [k, 0])) as Counters;
  for (const r of rows) for (const k of KEYS) out[k] += r[k];
  return out;
}

export const statsRoutes = newRouter()
  .openapi(current, async function getStats(c) {
    const all = await onEveryShard(c.env, (s) => s.stats());
    if (all.length === 1) return c.json(all[0], 200);
    const startedAt = all.map((s) => s.startedAt).sort()[0];
    const events = { webSocketMessagesIn: 0, webSocketMessagesOut: 0, upgrades: 0, alarms: 0 };
    for (const s of all) for (const k of Object.keys(events) as (keyof typeof events)[]) events[k] += s.durableObject[k];
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
