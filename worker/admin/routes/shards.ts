import { createRoute, z } from '@hono/zod-openapi';
import { createBrokerRouter } from '../../broker-router';
import { errorResponses, notFound } from '../errors';
import { newRouter } from '../router';
import { recordAudit } from '../audit';

// Any text is a path a client may ask for; only 0 .. BROKER_SHARDS - 1 names a shard, everything else is 404.
const ShardParam = z.object({ shard: z.string().max(64).openapi({ param: { name: 'shard', in: 'path' }, example: '2' }) });

const restart = createRoute({
  method: 'post',
  path: '/shards/{shard}/restart',
  tags: ['Broker'],
  summary: 'Restart one broker shard: its clients are disconnected and reconnect; sessions, queues and acknowledged messages are kept',
  description:
    'What eviction or a deploy does to one Durable Object, on demand: to recover a shard, or to check that clients and other shards ride it out. ' +
    'The shard starts again from its SQLite storage at the next request; messages other shards owe it are sent again until it confirms them.',
  request: { params: ShardParam },
  responses: { 202: { description: 'The shard is restarting' }, ...errorResponses(401, 403, 404) },
});

export const shardRoutes = newRouter().openapi(restart, async function restartShard(c) {
  const router = createBrokerRouter(c.env);
  const shard = Number(c.req.valid('param').shard);
  if (!/^\d+$/.test(c.req.valid('param').shard) || shard >= router.shardCount) throw notFound('Shard');
  try {
    await router.shard(shard).restart();
  } catch {
    // The shard ends the call by resetting itself: the error is the restart.
  }
  await recordAudit(c, 'restart', 'shards', String(shard));
  return c.body(null, 202);
});
