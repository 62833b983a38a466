import { createRoute, z } from '@hono/zod-openapi';
import { onShardOfClient } from '../broker';
import { errorResponses, notFound } from '../errors';
import { newRouter } from '../router';
import { compareSessions, SessionDetailSchema, SessionListQuery, SessionSchema } from '../contract/broker';
import { pageSchema } from '../schemas';
import { pagedFromShards } from './shard-pages';
import { recordAudit } from '../audit';

const ClientIdParam = z.object({ clientId: z.string().min(1).max(65535).openapi({ param: { name: 'clientId', in: 'path' }, example: 'sensor-17' }) });

const tags = ['Sessions'];

const list = createRoute({
  method: 'get',
  path: '/sessions',
  tags,
  summary: 'MQTT sessions, connected or kept for a later reconnect',
  request: {
    query: SessionListQuery,
  },
  responses: { 200: { description: 'A page of sessions', content: { 'application/json': { schema: pageSchema(SessionSchema, 'SessionPage') } } }, ...errorResponses(400, 401, 503) },
});
const getOne = createRoute({
  method: 'get',
  path: '/sessions/{clientId}',
  tags,
  summary: 'One session with its subscriptions, in-flight and queued counts',
  request: { params: ClientIdParam },
  responses: { 200: { description: 'The session', content: { 'application/json': { schema: SessionDetailSchema } } }, ...errorResponses(401, 404, 503) },
});
const disconnect = createRoute({
  method: 'post',
  path: '/sessions/{clientId}/disconnect',
  tags,
  summary: 'Disconnect the client (MQTT 5: DISCONNECT 0x98 Administrative action); a persistent session stays',
  request: { params: ClientIdParam },
  responses: { 204: { description: 'Disconnected' }, ...errorResponses(401, 403, 404, 503) },
});
const remove = createRoute({
  method: 'delete',
  path: '/sessions/{clientId}',
  tags,
  summary: 'Remove the session (disconnecting the client first), with its subscriptions and queue',
  request: { params: ClientIdParam },
  responses: { 204: { description: 'Removed' }, ...errorResponses(401, 403, 404, 503) },
});

export const sessionRoutes = newRouter()
  .openapi(list, async function listSessions(c) {
    const q = c.req.valid('query');
    const page = await pagedFromShards(c.env, q, (s, range) => s.listSessions({ ...q, ...range }), (a, b) => compareSessions(a, b, q.sort, q.order));
    return c.json(page!, 200);
  })
  .openapi(getOne, async function getSession(c) {
    const { clientId } = c.req.valid('param');
    // A client id's session can only be on its own shard.
    const { shard, result: found } = await onShardOfClient(c.env, clientId, (s) => s.getSession(clientId));
    if (!found) throw notFound('Session');
    return c.json({ ...found, shard, subscriptionList: found.subscriptionList.map((sub) => ({ ...sub, shard })) }, 200);
  })
  .openapi(disconnect, async function disconnectSession(c) {
    const { clientId } = c.req.valid('param');
    const { result: done } = await onShardOfClient(c.env, clientId, (s) => s.disconnectSession(clientId));
    if (!done) throw notFound('Connected session');
    await recordAudit(c, 'disconnect', 'sessions', clientId);
    return c.body(null, 204);
  })
  .openapi(remove, async function removeSession(c) {
    const { clientId } = c.req.valid('param');
    const { result: done } = await onShardOfClient(c.env, clientId, (s) => s.removeSession(clientId));
    if (!done) throw notFound('Session');
    await recordAudit(c, 'delete', 'sessions', clientId);
    return c.body(null, 204);
  });
