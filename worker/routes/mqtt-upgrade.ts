import { Hono } from 'hono';
import type { Env } from '../env';
import { ApiError } from '../errors';
import { acceptAtEdge } from '../gateway/websocket-adapter';
import { connectToShard } from '../gateway/direct-to-shard';
import { gatewayModeOf } from '../gateway/gateway-mode';
import { createBrokerRouter } from '../broker-router';
import { buildTrustedContext } from '../trusted-context';

/** Subprotocols MQTT clients offer: `mqtt` (3.1.1 and 5.0) and the legacy `mqttv3.1`. */
const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const;

export const MQTT_PATH = '/mqtt';

export function chooseSubprotocol(header: string | null): string | null {
  if (!header) return null;
  // What every MQTT client offers, alone: no list to split on each of a reconnect storm's upgrades.
  if (header === 'mqtt') return header;
  const offered = header.split(',').map((p) => p.trim().toLowerCase());
  return MQTT_SUBPROTOCOLS.find((p) => offered.includes(p)) ?? null;
}

/** The subprotocol to echo when the request is an MQTT WebSocket upgrade, or the error that says why it is not. */
export function readMqttUpgrade(request: Request): { subprotocol: string } | ApiError {
  if (request.method !== 'GET') {
    return new ApiError(405, 'method_not_allowed', 'MQTT over WebSocket needs a GET upgrade request', undefined, { Allow: 'GET' });
  }
  if ((request.headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') {
    return new ApiError(426, 'upgrade_required', 'expected a WebSocket upgrade (Upgrade: websocket)', undefined, { Upgrade: 'websocket' });
  }
  const subprotocol = chooseSubprotocol(request.headers.get('sec-websocket-protocol'));
  if (!subprotocol) {
    return new ApiError(400, 'unsupported_subprotocol', 'missing or unsupported Sec-WebSocket-Protocol: offer "mqtt" (or "mqttv3.1")');
  }
  return { subprotocol };
}

/**
 * The edge gateway terminates the socket and reads the CONNECT before any
 * shard is involved; with `BROKER_GATEWAY=direct` the one shard takes the
 * socket instead (worker/gateway/gateway-mode.ts). The trusted context is
 * built here from platform fields only; nothing else the client sent reaches
 * a Durable Object.
 */
export function acceptMqttUpgrade(request: Request, env: Env, subprotocol: string): Response | Promise<Response> {
  const trusted = buildTrustedContext(request, subprotocol);
  if (gatewayModeOf(env) === 'direct') return connectToShard(createBrokerRouter(env).shard(0), trusted);
  return acceptAtEdge(env, trusted);
}

/** Whether a request URL is the MQTT endpoint: every device connection asks this once, before the router (worker/index.ts). */
export function isMqttPath(url: string): boolean {
  return new URL(url).pathname === MQTT_PATH;
}

/** The same route inside the app, for what is not a valid upgrade: it answers with the one error shape. */
export const mqttUpgradeRoute = new Hono<{ Bindings: Env }>();

mqttUpgradeRoute.all(MQTT_PATH, async function upgradeToMqtt(c) {
  const upgrade = readMqttUpgrade(c.req.raw);
  if (upgrade instanceof ApiError) throw upgrade;
  return acceptMqttUpgrade(c.req.raw, c.env, upgrade.subprotocol);
});
