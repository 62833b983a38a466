import { Hono } from 'hono';
import type { Env } from '../env';
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
    return c.json({ error: 'MQTT over WebSocket needs a GET upgrade request' }, 405, { Allow: 'GET' });
  }
  if ((request.headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') {
    return c.json({ error: 'expected a WebSocket upgrade (Upgrade: websocket)' }, 426, { Upgrade: 'websocket' });
  }
  const subprotocol = chooseSubprotocol(request.headers.get('sec-websocket-protocol'));
  if (!subprotocol) {
    return c.json({ error: 'missing or unsupported Sec-WebSocket-Protocol: offer "mqtt" (or "mqttv3.1")' }, 400);
  }
  // The edge gateway terminates the socket and reads the CONNECT before any
  // shard is involved. The trusted context is built here from platform fields
  // only; nothing else the client sent reaches a Durable Object.
  return acceptAtEdge(c.env, buildTrustedContext(request, subprotocol));
});
