import type { TrustedContext } from '../../protocol/ports';
import type { ShardStub } from '../broker-router';
import { errorBody } from '../errors';
import { clientUpgradeResponse, shardUpgradeRequest } from './upgrades';

/**
 * `BROKER_GATEWAY=direct`: the upgrade goes on to the one shard, which
 * accepts the client's socket with the Hibernation API and from then on gets
 * every frame itself (framing across frames, PINGREQ and the keepalive are
 * the engine's, as `keepaliveAtEdge` false says; a client cannot set it).
 */
export async function connectToShard(shard: ShardStub, trusted: TrustedContext): Promise<Response> {
  let response: Response;
  try {
    response = await shard.fetch(shardUpgradeRequest({ ...trusted, assignedClientId: null, keepaliveAtEdge: false }));
  } catch (err) {
    // The shard could not be reached (reset, overloaded): the client retries, as after a 1011 from the gateway.
    console.error('edgemq: could not reach the broker shard', err);
    return Response.json(errorBody('shard_unavailable', 'the broker shard could not be reached; try again'), { status: 503, headers: { 'Retry-After': '1' } });
  }
  if (response.status !== 101 || !response.webSocket) return response;
  return clientUpgradeResponse(response.webSocket, trusted.subprotocol);
}
