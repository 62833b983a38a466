import { createRoute, z } from '@hono/zod-openapi';
import { LiveEventSchema } from '../contract/broker';
import { shards } from '../broker';
import { openEventStreams } from '../event-fan-in';
import { ApiError, errorResponses } from '../errors';
import { newRouter } from '../router';

const events = createRoute({
  method: 'get',
  path: '/events',
  tags: ['Live events'],
  summary: 'WebSocket of live broker events (connects, disconnects, refused connections) from every shard',
  description:
    'Open with `Upgrade: websocket`. Browsers cannot send headers, so the token may come as the subprotocol `bearer.<token>` (echoed back) or as `?token=`. Each text message is one LiveEvent as JSON, with the shard it happened on. When the stream of one shard ends, the socket closes with 1012; open it again. The stream stays open after the token expires; reconnect with a fresh token to keep authorization current.',
  request: { query: z.object({ token: z.string().optional().openapi({ description: 'Alternative to the Authorization header' }) }) },
  responses: {
    101: { description: 'Switching to WebSocket; messages are LiveEvent JSON', content: { 'application/json': { schema: LiveEventSchema } } },
    ...errorResponses(401, 503),
    426: { description: 'Not a WebSocket upgrade' },
  },
});

export const eventRoutes = newRouter().openapi(events, async function liveEvents(c) {
  if ((c.req.header('upgrade') ?? '').toLowerCase() !== 'websocket') {
    throw new ApiError(426, 'upgrade_required', 'Open this endpoint as a WebSocket (Upgrade: websocket)', undefined, { Upgrade: 'websocket' });
  }
  const offered = (c.req.header('sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith('bearer.'));
  // A browser drops a WebSocket whose server does not pick one of the offered subprotocols.
  try {
    return await openEventStreams(shards(c.env), offered);
  } catch (err) {
    console.error('live events could not be opened', err);
    throw new ApiError(503, 'broker_unavailable', 'The broker could not be reached; try again');
  }
});
