// The reference for idle-connection memory: a Worker and a Durable Object
// shaped like EdgeMQ's upgrade path (the Worker forwards /mqtt to one object,
// which accepts the socket through the Hibernation API and echoes the
// subprotocol) that do nothing else with the sockets.
import { DurableObject } from 'cloudflare:workers';

export class IdleShard extends DurableObject {
  async fetch() {
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0], headers: { 'Sec-WebSocket-Protocol': 'mqtt' } });
  }
  webSocketMessage() {}
  webSocketClose(ws, code, reason) {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/health') return new Response('ok');
    const stub = env.SHARD.get(env.SHARD.idFromName('shard-0'));
    const upgraded = await stub.fetch(new Request('https://shard.internal/connect', { headers: { Upgrade: 'websocket' } }));
    if (upgraded.status !== 101 || !upgraded.webSocket) return upgraded;
    return new Response(null, {
      status: 101,
      webSocket: upgraded.webSocket,
      headers: { 'Sec-WebSocket-Protocol': 'mqtt', 'Sec-WebSocket-Extensions': '' },
    });
  },
};
