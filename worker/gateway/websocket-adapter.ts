import { parseBrokerConfig, type BrokerConfig } from '../../protocol/config';
import type { TrustedContext } from '../../protocol/ports';
import { createBrokerRouter } from '../broker-router';
import type { Env } from '../env';
import { clientUpgradeResponse, shardUpgradeRequest } from './upgrades';
import { EdgeConnection, type EdgeIo, type EdgeLimits } from './edge-connection';

/** Parsed once per isolate and environment, not per connection. */
const limitsOf = new WeakMap<object, EdgeLimits>();

function edgeLimits(env: Env): EdgeLimits {
  let limits = limitsOf.get(env);
  if (!limits) {
    const config: BrokerConfig = parseBrokerConfig(env);
    limits = {
      maxPacketSize: config.maxPacketSize,
      maxPendingBytes: config.maxPendingBytes,
      connectTimeoutMs: config.connectTimeoutMs,
      maxClientIdLength: config.maxClientIdLength,
      maxPublishRate: config.maxPublishRate,
    };
    limitsOf.set(env, limits);
  }
  return limits;
}

/**
 * The one place the gateway touches the platform: the client's WebSocket
 * (a WebSocketPair terminated in this Worker), the socket to the shard
 * (`stub.fetch` upgrade, accepted by the shard with the Hibernation API) and
 * the connection's single timer. Everything it decides is in edge-connection.ts.
 *
 * The Worker holds both sockets for the connection's life; it is billed for
 * CPU time while it handles a message, not for the time it waits
 * (docs/architecture.md, "Routing").
 */
export function acceptAtEdge(env: Env, trusted: TrustedContext): Response {
  const limits = edgeLimits(env);
  const router = createBrokerRouter(env);
  const pair = new WebSocketPair();
  const client = pair[0];
  const server = pair[1];
  server.accept();
  server.binaryType = 'arraybuffer';

  let shard: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let edge!: EdgeConnection;

  const io: EdgeIo = {
    now: () => Date.now(),
    toClient: (bytes) => {
      try {
        server.send(bytes);
      } catch {
        // The client went away; its close event follows.
      }
    },
    closeClient: (code, reason) => {
      clearTimeout(timer);
      try {
        server.close(code, reason.slice(0, 120));
      } catch {
        // Already closed.
      }
    },
    openShard: (clientId, assignedClientId) => {
      // The context the edge vouches for travels on the upgrade, as before; the
      // assigned id and the keepalive duty are added here, never from the client.
      const forShard: TrustedContext = {
        ...trusted,
        assignedClientId,
        keepaliveAtEdge: true,
      };
      router
        .shardForClient(clientId)
        .fetch(shardUpgradeRequest(forShard))
        .then((response) => {
          const ws = response.webSocket;
          if (response.status !== 101 || !ws) {
            edge.shardFailed();
            return;
          }
          ws.accept();
          ws.binaryType = 'arraybuffer';
          shard = ws;
          ws.addEventListener('message', (event) => {
            if (typeof event.data !== 'string') edge.shardBytes(new Uint8Array(event.data as ArrayBuffer));
          });
          ws.addEventListener('close', (event) => edge.shardClosed(event.code, event.reason));
          ws.addEventListener('error', () => edge.shardClosed(1011, 'broker connection failed'));
          edge.shardOpened();
        })
        .catch((err) => {
          console.error('edgemq: could not reach the broker shard', err);
          edge.shardFailed();
        });
    },
    toShard: (data) => {
      try {
        shard?.send(data);
      } catch {
        // The shard socket closed; its close event follows.
      }
    },
    closeShard: (code, reason) => {
      clearTimeout(timer);
      try {
        shard?.close(code, reason.slice(0, 120));
      } catch {
        // Already closed.
      }
    },
    // One timer per connection, re-armed only when it fires or a deadline is
    // first set: packets just move lastActivityAt, so a busy connection costs no timer work.
    wakeAt: (at) => {
      clearTimeout(timer);
      timer = setTimeout(() => edge.onTimer(), Math.max(0, at - Date.now()));
    },
  };

  edge = new EdgeConnection(io, limits, () => `edgemq-${crypto.randomUUID()}`);
  server.addEventListener('message', (event) => {
    if (typeof event.data === 'string') edge.clientText();
    else edge.clientBytes(new Uint8Array(event.data as ArrayBuffer));
  });
  server.addEventListener('close', (event) => {
    clearTimeout(timer);
    edge.clientClosed(event.code, event.reason);
  });
  server.addEventListener('error', () => {
    clearTimeout(timer);
    edge.clientClosed(1011, 'client connection failed');
  });

  return clientUpgradeResponse(client, trusted.subprotocol);
}
