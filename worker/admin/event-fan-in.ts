import { ADMIN_EVENTS_PATH, ADMIN_EVENTS_PROTOCOL_HEADER } from '../../durable-objects/admin/live-events';
import type { ShardStub } from './broker';

/** The internal request that opens a shard's event stream; the shard tags its events with its own index. */
function eventsRequest(offered: string | undefined): Request {
  const headers = new Headers({ Upgrade: 'websocket' });
  if (offered) headers.set(ADMIN_EVENTS_PROTOCOL_HEADER, offered);
  return new Request(`https://broker.internal${ADMIN_EVENTS_PATH}`, { headers });
}

/**
 * GET /events over every shard. One shard's stream is handed to the
 * dashboard as it is (the Worker holds nothing). With several, the Worker
 * opens every shard's stream and relays their events, already tagged with
 * their shard by the shard itself, into one socket. A connection counts
 * against the invocation's six only until its response headers arrive
 * (docs/architecture.md), so 64 streams open without queueing for good.
 *
 * When one shard's stream ends (an eviction, a deploy) the dashboard's
 * socket closes too and the dashboard reconnects to all of them: a stream
 * that silently lost a shard would look complete and not be.
 */
export async function openEventStreams(stubs: ShardStub[], offered: string | undefined): Promise<Response> {
  if (stubs.length === 1) return stubs[0].fetch(eventsRequest(offered));

  const opened = await Promise.allSettled(stubs.map((stub) => stub.fetch(eventsRequest(offered))));
  const sockets = opened.map((r) => (r.status === 'fulfilled' && r.value.status === 101 ? r.value.webSocket : null));
  if (sockets.some((ws) => ws === null)) {
    for (const ws of sockets) closeQuietly(ws, 1000, 'stream not complete');
    const failed = opened.find((r) => r.status === 'rejected');
    throw failed ? failed.reason : new Error('a shard refused the event stream');
  }

  const pair = new WebSocketPair();
  const [client, server] = [pair[0], pair[1]];
  server.accept();
  let ended = false;
  const endAll = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    for (const ws of sockets) closeQuietly(ws, 1000, reason);
    closeQuietly(server, code, reason);
  };
  for (const ws of sockets as WebSocket[]) {
    ws.accept();
    ws.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      try {
        server.send(event.data);
      } catch {
        // The dashboard went away; its close event ends the rest.
      }
    });
    // 1012 (service restart): the dashboard reconnects and gets every shard again.
    ws.addEventListener('close', () => endAll(1012, 'a broker shard restarted'));
    ws.addEventListener('error', () => endAll(1012, 'a broker shard restarted'));
  }
  server.addEventListener('close', () => endAll(1000, 'closed'));
  server.addEventListener('error', () => endAll(1000, 'closed'));
  const headers = offered ? { 'Sec-WebSocket-Protocol': offered } : undefined;
  return new Response(null, { status: 101, webSocket: client, headers });
}

function closeQuietly(ws: WebSocket | null, code: number, reason: string): void {
  try {
    ws?.close(code, reason);
  } catch {
    // Already closed.
  }
}
