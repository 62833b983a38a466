import type { TrustedContext } from '../../protocol/ports';
import type { ShardStub } from '../broker-router';
import { errorBody } from '../errors';
import { encodeTrustedContext, TRUSTED_CONTEXT_HEADER } from '../trusted-context';

/**
 * `BROKER_GATEWAY=direct`: the upgrade goes on to the one shard, which
 * accepts the client's socket with the Hibernation API and from then on gets
 * every frame itself (framing across frames, PINGREQ and the keepalive are
 * the engine's, as `keepaliveAtEdge` false says). A fresh request carries only
 * what the shard needs, so nothing the client sent but the upgrade itself
 * reaches the Durable Object.
 */
export async function connectToShard(shard: ShardStub, trusted: TrustedContext): Promise<Response> {
  const forShard: TrustedContext = { ...trusted, assignedClientId: null, keepaliveAtEdge: false };
  let response: Response;
  try {
    response = await shard.fetch(
      new Request('https://broker.internal/connect', {
        method: 'GET',
        headers: {
          Upgrade: 'websocket',
          'Sec-WebSocket-Protocol': trusted.subprotocol,
          [TRUSTED_CONTEXT_HEADER]: encodeTrustedContext(forShard),
        },
      }),
    );
  } catch (err) {
    // The shard could not be reached (reset, overloaded): the client retries, as after a 1011 from the gateway.
    console.error('edgemq: could not reach the broker shard', err);
    return Response.json(errorBody('shard_unavailable', 'the broker shard could not be reached; try again'), { status: 503, headers: { 'Retry-After': '1' } });
  }
  if (response.status !== 101 || !response.webSocket) return response;
  // The runtime negotiates extensions with the client from the Worker's own response, not the object's:
  // an empty Sec-WebSocket-Extensions refuses permessage-deflate here, as the edge gateway does
  // (websocket-adapter.ts): deflating small binary packets costs more CPU than the broker spends on them.
  return new Response(null, {
    status: 101,
    webSocket: response.webSocket,
    headers: { 'Sec-WebSocket-Protocol': trusted.subprotocol, 'Sec-WebSocket-Extensions': '' },
  });
}
