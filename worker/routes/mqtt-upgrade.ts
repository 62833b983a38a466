import { Hono } from 'hono';
import type { Env } from '../env';
import { createBrokerRouter } from '../broker-router';
import { buildTrustedContext, encodeTrustedContext, TRUSTED_CONTEXT_HEADER } from '../trusted-context';

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
  // A fresh request: only the headers the upgrade needs plus the context the
  // edge vouches for. Nothing else a client sent reaches the Durable Object.
  const headers = new Headers({
    Upgrade: 'websocket',
    'Sec-WebSocket-Protocol': subprotocol,
    [TRUSTED_CONTEXT_HEADER]: encodeTrustedContext(buildTrustedContext(request, subprotocol)),
  });
  const shard = createBrokerRouter(c.env).shardForConnection(request);
  const upgraded = await shard.fetch(new Request('https://broker.internal/connect', { method: 'GET', headers }));
  if (upgraded.status !== 101 || !upgraded.webSocket) return upgraded;
  // An empty Sec-WebSocket-Extensions makes the runtime refuse permessage-deflate
  // where the socket leaves the Worker. MQTT packets are small and mostly
  // binary: deflating each one costs the client and the runtime more CPU than
  // the broker spends on the packet, and mosquitto, aedes and EMQX leave it
  // off by default too.
  return new Response(null, {
    status: 101,
    webSocket: upgraded.webSocket,
    headers: { 'Sec-WebSocket-Protocol': subprotocol, 'Sec-WebSocket-Extensions': '' },
  });
});
