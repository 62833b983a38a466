import type { TrustedContext } from '../../protocol/ports';
import { encodeTrustedContext, TRUSTED_CONTEXT_HEADER } from '../trusted-context';

/**
 * The upgrade a shard accepts (durable-objects/broker-shard.ts `fetch`): a
 * fresh request that carries only the subprotocol and the context the edge
 * vouches for, so nothing else the client sent reaches the Durable Object.
 */
export function shardUpgradeRequest(forShard: TrustedContext): Request {
  return new Request('https://broker.internal/connect', {
    method: 'GET',
    headers: {
      Upgrade: 'websocket',
      'Sec-WebSocket-Protocol': forShard.subprotocol,
      [TRUSTED_CONTEXT_HEADER]: encodeTrustedContext(forShard),
    },
  });
}

/**
 * The client's 101, whichever side holds its socket. An empty
 * Sec-WebSocket-Extensions makes the runtime refuse permessage-deflate where
 * the socket leaves the Worker (it negotiates from the Worker's response, not
 * a Durable Object's): deflating small binary packets costs the client and
 * the runtime more CPU than the broker spends on them.
 */
export function clientUpgradeResponse(webSocket: WebSocket, subprotocol: string): Response {
  return new Response(null, {
    status: 101,
    webSocket,
    headers: { 'Sec-WebSocket-Protocol': subprotocol, 'Sec-WebSocket-Extensions': '' },
  });
}
