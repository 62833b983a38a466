// The least a gateway Worker can do in front of a Durable Object: terminate
// the client's WebSocket in the Worker, open a socket to the object once the
// client has spoken, and relay every message both ways unchanged.
//
// A broker with many shards must do at least this much, because the upgrade
// arrives before the CONNECT that names the client (and so the shard). The
// benchmark's "floor behind a gateway" and the idle soak's gateway reference
// use it to show what that hop costs on the local runtime, where the Worker
// and the object share one workerd process; EdgeMQ's gateway does this plus
// framing, the CONNECT gate, PINGREQ and the keepalive
// (worker/gateway/edge-connection.ts).
//
// Plain JavaScript on purpose: the references must not run EdgeMQ code.

/** Answers the upgrade in the Worker and relays to the object `stub` reaches. */
export function relayThroughWorker(stub, subprotocol = 'mqtt') {
  const [client, server] = Object.values(new WebSocketPair());
  server.accept();
  server.binaryType = 'arraybuffer';
  let object = null;
  /** Messages that came before the object's socket was open, in order. */
  let held = [];
  let closed = false;

  const closeQuietly = (ws, code, reason) => {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  };

  const open = () => {
    stub
      .fetch(new Request('https://object.internal/connect', { headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': subprotocol } }))
      .then((response) => {
        const ws = response.webSocket;
        if (response.status !== 101 || !ws) throw new Error(`the object answered ${response.status}`);
        ws.accept();
        ws.binaryType = 'arraybuffer';
        ws.addEventListener('message', (event) => {
          try {
            server.send(event.data);
          } catch {
            // the client went away; its close event follows
          }
        });
        ws.addEventListener('close', (event) => closeQuietly(server, event.code, event.reason));
        if (closed) {
          closeQuietly(ws, 1000, 'client gone');
          return;
        }
        object = ws;
        for (const data of held) ws.send(data);
        held = [];
      })
      .catch(() => closeQuietly(server, 1011, 'object unavailable'));
  };

  server.addEventListener('message', (event) => {
    if (object) {
      object.send(event.data);
      return;
    }
    held.push(event.data);
    // A sharded gateway can only choose the object once the CONNECT has come.
    if (held.length === 1) open();
  });
  server.addEventListener('close', (event) => {
    closed = true;
    if (object) closeQuietly(object, event.code, event.reason);
  });

  return new Response(null, {
    status: 101,
    webSocket: client,
    headers: { 'Sec-WebSocket-Protocol': subprotocol, 'Sec-WebSocket-Extensions': '' },
  });
}
