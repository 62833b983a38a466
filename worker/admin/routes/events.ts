import { createRoute, z } from '@hono/zod-openapi';
import { ADMIN_EVENTS_PATH, ADMIN_EVENTS_PROTOCOL_HEADER } from '../../../durable-objects/admin/live-events';
import { LiveEventSchema } from '../contract/broker';
import { shards } from '../broker';
import { ApiError, errorResponses } from '../errors';
import { newRouter } from '../router';

const events = createRoute({
  method: 'get',
  path: '/events',
  tags: ['Live events'],
  summary: 'WebSocket of live broker events (connects, disconnects, refused connections)',
  description:
    'Open with `Upgrade: websocket`. Browsers cannot send headers, so the token may come as the subprotocol `bearer.<token>` (echoed back) or as `?token=`. Each text message is one LiveEvent as JSON. The stream stays open after the token expires; reconnect with a fresh token to keep authorization current.',
  request: { query: z.object({ token: z.string().optional().openapi({ description: 'Alternative to the Authorization header' }) }) },
  responses: {
    101: { description: 'Switching to WebSocket; messages are LiveEvent JSON', content: { 'application/json': { schema: LiveEventSchema } } },
    ...errorResponses(401),
    426: { description: 'Not a WebSocket upgrade' },
  },
});

export const eventRoutes = newRouter().openapi(events, async function liveEvents(c) {
  if ((c.req.header('upgrade') ?? '').toLowerCase() !== 'websocket') {
    throw new ApiError(426, 'upgrade_required', 'Open this endpoint as a WebSocket (Upgrade: websocket)', undefined, { Upgrade: 'websocket' });
  }
  const headers = new Headers({ Upgrade: 'websocket' });
  const offered = (c.req.header('sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith('bearer.'));
  // A browser drops a WebSocket whose server does not pick one of the offered subprotocols.
  if (offered) headers.set(ADMIN_EVENTS_PROTOCOL_HEADER, offered);
  const [shard] = shards(c.env);
  return shard.fetch(new Request(`https://broker.internal${ADMIN_EVENTS_PATH}`, { headers }));
});
