import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../worker/env';
import { decodeTrustedContext, TRUSTED_CONTEXT_HEADER } from '../worker/trusted-context';
import { BrokerEngine } from '../protocol/engine/broker-engine';
import { parseBrokerConfig } from '../protocol/config';
import type { ConnectionSnapshot, Transport } from '../protocol/ports';
import { allowAllAuthorizer } from '../protocol/ports';
import { SqliteSessionStore } from './sqlite-session-store';
import { createAuthenticator } from '../auth/create-authenticator';

/**
 * One broker shard. The class only owns the platform callbacks (fetch,
 * webSocketMessage, webSocketClose, alarm) and forwards them to the
 * platform-free engine. Sockets are accepted through the Hibernation API so
 * idle connections cost nothing; everything the engine needs after waking is
 * in SQLite or in the socket attachment.
 */
export class BrokerShard extends DurableObject<Env> {
  private engine!: BrokerEngine;
  private readonly sockets = new Map<string, WebSocket>();
  /** Saves a structured-clone read of the attachment on every frame. */
  private readonly idOfSocket = new WeakMap<WebSocket, string>();
  private alarmAt: number | null = null;
  /**
   * Frames produced while handling one event, per socket. They leave as one
   * WebSocket message once the event's synchronous work is done: MQTT allows
   * several packets in a frame [MQTT-6.0.0-2], and each send costs the runtime
   * (and the client) as much as a small packet's whole handling.
   */
  private readonly outbox = new Map<string, Uint8Array[]>();
  private flushQueued = false;
  /** Platform callbacks running engine work now; their frames leave when the outermost returns. */
  private handling = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const config = parseBrokerConfig(env);
      const transport: Transport = {
        send: (id, bytes) => this.sendTo(id, bytes),
        close: (id, code, reason) => this.closeSocket(id, code, reason),
        saveConnectionSnapshot: (id, snapshot) => this.sockets.get(id)?.serializeAttachment(snapshot),
      };
      this.engine = new BrokerEngine({
        config,
        store: new SqliteSessionStore(ctx.storage.sql),
        transport,
        clock: { now: () => Date.now() },
        authenticator: createAuthenticator(env, config),
        authorizer: allowAllAuthorizer,
      });
      const snapshots: ConnectionSnapshot[] = [];
      for (const ws of ctx.getWebSockets()) {
        const snapshot = ws.deserializeAttachment() as ConnectionSnapshot | null;
        if (!snapshot?.connectionId) {
          ws.close(1011, 'lost connection state');
          continue;
        }
        this.sockets.set(snapshot.connectionId, ws);
        this.idOfSocket.set(ws, snapshot.connectionId);
        snapshots.push(snapshot);
      }
      this.engine.restore(snapshots);
      this.alarmAt = await ctx.storage.getAlarm();
      this.syncAlarm();
    });
  }

  override async fetch(request: Request): Promise<Response> {
    const trusted = decodeTrustedContext(request.headers.get(TRUSTED_CONTEXT_HEADER));
    if (!trusted || request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      return new Response('expected an upgrade routed by the edge Worker', { status: 400 });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const connectionId = crypto.randomUUID();
    this.ctx.acceptWebSocket(server);
    this.sockets.set(connectionId, server);
    this.idOfSocket.set(server, connectionId);
    this.engine.openConnection(connectionId, trusted);
    this.syncAlarm();
    return new Response(null, {
      status: 101,
      webSocket: client,
      headers: { 'Sec-WebSocket-Protocol': trusted.subprotocol },
    });
  }

  // Not async: most frames are handled synchronously, and a promise per frame is measurable.
  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> | void {
    const id = this.connectionIdOf(ws);
    if (!id) return;
    const pending = this.run(() => {
      // MQTT over WebSocket is binary only [MQTT-6.0.0-1]: a text frame ends the connection.
      if (typeof message === 'string') this.engine.protocolViolation(id, 'text WebSocket frame');
      else return this.engine.receive(id, new Uint8Array(message));
    });
    if (pending) return pending.then(() => this.syncAlarm());
    this.syncAlarm();
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.run(() => this.socketGone(ws));
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.run(() => this.socketGone(ws));
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.run(() => this.engine.onTimer());
    this.syncAlarm();
  }

  /** Engine work for one platform callback: what it sends leaves, per socket, when it returns. */
  private run<T>(work: () => T): T {
    this.handling++;
    try {
      return work();
    } finally {
      if (--this.handling === 0) this.flushOutbox();
    }
  }

  private socketGone(ws: WebSocket): void {
    const id = this.connectionIdOf(ws);
    if (!id) return;
    this.sockets.delete(id);
    this.engine.connectionLost(id);
    this.syncAlarm();
  }

  private connectionIdOf(ws: WebSocket): string | null {
    const cached = this.idOfSocket.get(ws);
    if (cached) return cached;
    const snapshot = ws.deserializeAttachment() as ConnectionSnapshot | null;
    if (!snapshot?.connectionId) return null;
    this.idOfSocket.set(ws, snapshot.connectionId);
    return snapshot.connectionId;
  }

  private sendTo(id: string, bytes: Uint8Array): void {
    const frames = this.outbox.get(id);
    if (frames) frames.push(bytes);
    else this.outbox.set(id, [bytes]);
    if (this.handling === 0 && !this.flushQueued) {
      // Sent from a continuation (after asynchronous authentication): flush once it has run,
      // still inside the same event, so the output gate applies as before.
      this.flushQueued = true;
      queueMicrotask(() => this.flushOutbox());
    }
  }

  private flushOutbox(): void {
    this.flushQueued = false;
    for (const id of [...this.outbox.keys()]) this.flush(id);
  }

  private flush(id: string): void {
    const frames = this.outbox.get(id);
    if (!frames) return;
    this.outbox.delete(id);
    const ws = this.sockets.get(id);
    if (!ws) return;
    try {
      ws.send(frames.length === 1 ? frames[0] : concat(frames));
    } catch {
      // The peer went away; webSocketClose will follow.
    }
  }

  private closeSocket(id: string, code = 1000, reason = ''): void {
    // Whatever the engine sent before closing (a DISCONNECT with its reason) goes first.
    this.flush(id);
    const ws = this.sockets.get(id);
    if (!ws) return;
    this.sockets.delete(id);
    try {
      ws.close(code, reason.slice(0, 120));
    } catch {
      // Already closed.
    }
  }

  /** One alarm multiplexes every engine timer: set it to the earliest deadline. */
  private syncAlarm(): void {
    const next = this.engine.nextWakeAt();
    if (next === null) {
      if (this.alarmAt !== null) {
        this.alarmAt = null;
        void this.ctx.storage.deleteAlarm();
      }
      return;
    }
    if (this.alarmAt === null || next < this.alarmAt || next > this.alarmAt + 1000) {
      this.alarmAt = next;
      void this.ctx.storage.setAlarm(next);
    }
  }
}

function concat(frames: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const f of frames) length += f.byteLength;
  const out = new Uint8Array(length);
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.byteLength;
  }
  return out;
}
