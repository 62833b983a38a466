import { Hono } from 'hono';
import type { Env } from '../env';
import { ApiError } from '../errors';
import { acceptAtEdge } from '../gateway/websocket-adapter';
import { buildTrustedContext } from '../trusted-context';

/** Subprotocols MQTT clients offer: `mqtt` (3.1.1 and 5.0) and the legacy `mqttv3.1`. */
const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const;

export function chooseSubprotocol(header: string | null): string | null {
  if (!header) return null;
  const offered = header.split(',').map((p) => p.trim().toLowerCase());
  return MQTT_SUBPROTOCOLS.find((p) => offered.includes(p)) ?? null;
}

export const mqttUpgradeRoute = new Hono<{ Bindings: Env }>();

mqttUpgradeRoute.all('/mqtt', async function upgradeToMqtt(c) {
  const request = c.req.raw;
  if (request.method !== 'GET') {
    throw new ApiError(405, 'method_not_allowed', 'MQTT over WebSocket needs a GET upgrade request', undefined, { Allow: 'GET' });
  }
  if ((request.headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') {
    throw new ApiError(426, 'upgrade_required', 'expected a WebSocket upgrade (Upgrade: websocket)', undefined, { Upgrade: 'websocket' });
  }
  const subprotocol = chooseSubprotocol(request.headers.get('sec-websocket-protocol'));
  if (!subprotocol) {
    throw new ApiError(400, 'unsupported_subprotocol', 'missing or unsupported Sec-WebSocket-Protocol: offer "mqtt" (or "mqttv3.1")');
  }
  // The edge gateway terminates the socket and reads the CONNECT before any
  // shard is involved. The trusted context is built here from platform fields
  // only; nothing else the client sent reaches a Durable Object.
  return acceptAtEdge(c.env, buildTrustedContext(request, subprotocol));
});
