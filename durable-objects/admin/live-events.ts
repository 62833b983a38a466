import type { LiveEvent } from '../../worker/admin/contract/broker';
import type { BrokerEngine } from '../../protocol/engine/broker-engine';
import type { BrokerEvents, Clock } from '../../protocol/ports';

/** Hibernatable sockets of the live event stream carry this tag; MQTT sockets carry none. */
export const ADMIN_EVENTS_TAG = 'admin-events';
/** Path of the internal request the edge Worker sends to open an event stream. */
export const ADMIN_EVENTS_PATH = '/admin/events';
/** Header carrying the subprotocol the dashboard offered (the token), to be echoed on the 101. */
export const ADMIN_EVENTS_PROTOCOL_HEADER = 'x-edgemq-events-protocol';
/** Broker events go to every listener in turn; one listener's failure does not silence the others. */
export function combineEvents(...listeners: BrokerEvents[]): BrokerEvents {
  const call = <K extends keyof BrokerEvents>(key: K, info: Parameters<NonNullable<BrokerEvents[K]>>[0]) => {
    for (const l of listeners) {
      try {
        (l[key] as ((i: typeof info) => void) | undefined)?.(info);
      } catch (err) {
        console.error(`broker event listener failed (${key})`, err);
      }
    }
  };
  return {
    clientConnected: (info) => call('clientConnected', info),
    clientDisconnected: (info) => call('clientDisconnected', info),
    connectRefused: (info) => call('connectRefused', info),
  };
}

/**
 * The live event stream of GET /events: connects, disconnects and refused
 * connections, sent as JSON to every listening dashboard socket.
 */
export class LiveEventStream {
  /** Where connected clients came from, so a disconnect event can say it. */
  private readonly ipOfClient = new Map<string, string>();
  /**
   * Whether a dashboard may be listening: false once a broadcast found no
   * listener, true again when one is accepted. Asking the runtime for the
   * tagged sockets on every connect and disconnect, with nobody watching
   * (nearly always), was a call per connection for nothing.
   */
  private mayHaveListeners: boolean | null = null;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly engine: () => BrokerEngine,
    private readonly clock: Clock,
    /** This shard's index: every event says where it happened. */
    private readonly shard: () => number,
  ) {}

  readonly events: BrokerEvents = {
    clientConnected: ({ clientId, username, ip }) => {
      this.ipOfClient.set(clientId, ip);
      this.broadcast(() => ({ shard: this.shard(), type: 'connected', at: this.now(), clientId, username, ip }));
    },
    clientDisconnected: ({ clientId, reason }) => {
      const ip = this.ipOfClient.get(clientId) ?? null;
      this.ipOfClient.delete(clientId);
      this.broadcast(() => {
        const username = this.engine().sessions.get(clientId)?.record.username ?? null;
        return { shard: this.shard(), type: 'disconnected', at: this.now(), clientId, username, ip, reason };
      });
    },
    connectRefused: ({ clientId, username, ip, reasonCode, reason }) => {
      const code = reason?.code ?? `0x${reasonCode.toString(16).padStart(2, '0')}`;
      this.broadcast(() => ({ shard: this.shard(), type: 'auth-failure', at: this.now(), clientId, username, ip, reasonCode: code, reason: reason?.text }));
    },
  };

  isEventsRequest(request: Request): boolean {
    return new URL(request.url).pathname === ADMIN_EVENTS_PATH && request.headers.get('upgrade')?.toLowerCase() === 'websocket';
  }

  /** True for event-stream sockets, which the MQTT side must leave alone. */
  owns(ws: WebSocket): boolean {
    return this.ctx.getTags(ws).includes(ADMIN_EVENTS_TAG);
  }

  /** Accepted through the Hibernation API: listeners cost nothing while nothing happens. */
  accept(request: Request): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [ADMIN_EVENTS_TAG]);
    this.mayHaveListeners = true;
    const protocol = request.headers.get(ADMIN_EVENTS_PROTOCOL_HEADER);
    return new Response(null, { status: 101, webSocket: client, headers: protocol ? { 'Sec-WebSocket-Protocol': protocol } : {} });
  }

  private now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  /** The event is built only when someone listens. */
  private broadcast(event: () => LiveEvent): void {
    if (this.mayHaveListeners === false) return;
    const listeners = this.ctx.getWebSockets(ADMIN_EVENTS_TAG);
    this.mayHaveListeners = listeners.length > 0;
    if (!this.mayHaveListeners) return;
    const text = JSON.stringify(event());
    for (const ws of listeners) {
      try {
        ws.send(text);
      } catch {
        // Closing; webSocketClose cleans up.
      }
    }
  }
}
