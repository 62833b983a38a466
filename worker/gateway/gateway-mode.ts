import { parseShardCount } from './shard-count';

/**
 * Where a client's WebSocket ends (`BROKER_GATEWAY`):
 * - `relay` (the default): in the Worker, the edge gateway. It reads the
 *   CONNECT to pick the shard by client id, answers PINGREQ and keeps the
 *   keepalive, so an idle device never wakes its shard; every other frame
 *   crosses a second WebSocket to the shard.
 * - `direct`: in the one shard. The Worker hands the upgrade to it and is
 *   gone; every frame, PINGREQ included, is an event of the shard. Only
 *   one shard can be reached this way: with more, the shard depends on the
 *   client id, which the upgrade does not carry.
 */
export type GatewayMode = 'relay' | 'direct';

export class GatewayModeError extends Error {}

/** Parsed once per isolate and environment, not per upgrade; a configuration error is thrown again each time. */
const modeOf = new WeakMap<object, GatewayMode>();

export function gatewayModeOf(env: { BROKER_GATEWAY?: string; BROKER_SHARDS?: string }): GatewayMode {
  let mode = modeOf.get(env);
  if (!mode) {
    mode = parseGatewayMode(env.BROKER_GATEWAY, env.BROKER_SHARDS);
    modeOf.set(env, mode);
  }
  return mode;
}

/**
 * Parses `BROKER_GATEWAY` against `BROKER_SHARDS`. Loud, like the shard
 * count: a typo or a `direct` with several shards refuses every upgrade
 * rather than send clients somewhere their sessions are not.
 */
export function parseGatewayMode(value: unknown, shardsVar: unknown): GatewayMode {
  const mode = value === undefined || value === null || value === '' ? 'relay' : String(value).trim().toLowerCase();
  if (mode !== 'relay' && mode !== 'direct') {
    throw new GatewayModeError(`invalid broker configuration: BROKER_GATEWAY must be "relay" or "direct", got ${JSON.stringify(value)}`);
  }
  if (mode === 'direct' && parseShardCount(shardsVar) !== 1) {
    throw new GatewayModeError('invalid broker configuration: BROKER_GATEWAY=direct needs BROKER_SHARDS=1 (the shard of a client id is known only from its CONNECT)');
  }
  return mode;
}
