// The reference for idle-connection memory: a Worker and a Durable Object
// shaped like EdgeMQ's upgrade path (the Worker forwards /mqtt to one object,
// which accepts the socket through the Hibernation API and echoes the
// subprotocol) that do nothing else with the sockets.
//
// With MODE = "answer" the object also makes the platform calls EdgeMQ makes
// for an idle client, and nothing more: an attachment of the same shape on
// accept and after CONNECT, and a 4-byte CONNACK. That separates what the
// runtime spends on those calls from what the broker's own code keeps.
//
// With GATEWAY = "relay" the Worker keeps each client's socket and relays it
// to the object over a second one, opened once the client has spoken: the
// platform path of a broker with many shards, like EdgeMQ's edge gateway.
import { DurableObject } from 'cloudflare:workers';
import { relayThroughWorker } from '../../bench/floor/edge-relay.mjs';

export class IdleShard extends DurableObject {
  async fetch() {
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    if (this.env.MODE === 'answer') pair[1].serializeAttachment(snapshot(crypto.randomUUID(), null));
    return new Response(null, { status: 101, webSocket: pair[0], headers: { 'Sec-WebSocket-Protocol': 'mqtt' } });
  }
  webSocketMessage(ws) {
    if (this.env.MODE !== 'answer') return;
    const before = ws.deserializeAttachment();
    if (before.clientId) return;
    ws.serializeAttachment(snapshot(before.connectionId, 'connected'));
    ws.send(CONNACK);
  }
  webSocketClose(ws, code, reason) {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }
}

const CONNACK = new Uint8Array([0x20, 0x02, 0x00, 0x00]);

/** The size and shape of EdgeMQ's connection snapshot. */
function snapshot(connectionId, clientId) {
  return {
    connectionId,
    trusted: { ip: '127.0.0.1', tls: true, subprotocol: 'mqtt', tlsClientAuth: null, forwardedClientCert: null },
    openedAt: Date.now(),
    clientId,
    protocolVersion: 4,
    username: null,
    keepaliveSeconds: 60,
    lastActivityAt: Date.now(),
    clientReceiveMaximum: 65535,
    clientMaxPacketSize: 0,
    clientTopicAliasMaximum: 0,
    requestProblemInformation: true,
  };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/health') return new Response('ok');
    const stub = env.SHARD.get(env.SHARD.idFromName('shard-0'));
    if (env.GATEWAY === 'relay') return relayThroughWorker(stub);
    const upgraded = await stub.fetch(new Request('https://shard.internal/connect', { headers: { Upgrade: 'websocket' } }));
    if (upgraded.status !== 101 || !upgraded.webSocket) return upgraded;
    return new Response(null, {
      status: 101,
      webSocket: upgraded.webSocket,
      headers: { 'Sec-WebSocket-Protocol': 'mqtt', 'Sec-WebSocket-Extensions': '' },
    });
  },
};
