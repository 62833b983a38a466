import { DurableObject } from 'cloudflare:workers';
import type { ShardEnv } from '../worker/vars';
import { decodeTrustedContext, TRUSTED_CONTEXT_HEADER } from '../worker/trusted-context';
import { decodeControl } from '../worker/gateway/control';
import { BrokerEngine } from '../protocol/engine/broker-engine';
import { parseBrokerConfig } from '../protocol/config';
import type { ConnectionSnapshot, Transport } from '../protocol/ports';
import { AclAuthorizer } from '../auth/acl/acl-authorizer';
import { aclDefaultPolicy } from '../auth/acl/default-policy';
import { aclDenialLimit } from '../auth/acl/denial-limit';
import { loadAclSnapshot, parseAclDefaultPolicy } from '../auth/acl/load-snapshot';
import { RC } from '../protocol/reason-codes';
import { ENDED_PRINCIPALS_SLACK, PrincipalStore, SessionPrincipals } from './principal-store';
import { SqliteSessionStore } from './sqlite-session-store';
import { ShardSecurity } from './shard-security';
import { combineEvents, ShardAdmin, type RetainedQuery, type SessionQuery, type SubscriptionQuery } from './shard-admin';
import type { ShardIdentity } from './shard-identity';
import { ShardCluster } from './shard-cluster';
import type { BlockEntry } from '../auth/blocklist';
import { concatBytes } from '../protocol/codec/bytes';
import { ClusterNode } from '../protocol/cluster/cluster-node';
import type { ClusterBatch, ClusterReceipt } from '../protocol/cluster/messages';
import type { BrokerMessage } from '../protocol/store/records';
import { parseShardCount } from '../worker/gateway/shard-count';
import { SqliteClusterStore } from './cluster/sqlite-cluster-store';
import { rpcMessageBus } from './cluster/rpc-message-bus';
import type { ShardPeer } from './shard-peer';

/** How soon the alarm tries D1 again when it woke with sessions but without their ACL rules. */
const RULES_RETRY_MS = 5_000;

/**
 * One broker shard. The class only owns the platform callbacks (fetch,
 * webSocketMessage, webSocketClose, alarm) and forwards them to the
 * platform-free engine. Sockets are accepted through the Hibernation API so
 * idle connections cost nothing; everything the engine needs after waking is
 * in SQLite or in the socket attachment.
 */
export class BrokerShard extends DurableObject<ShardEnv> implements ShardPeer {
  private engine!: BrokerEngine;
  private security!: ShardSecurity;
  private admin!: ShardAdmin;
  private cluster!: ShardCluster;
  private readonly sockets = new Map<string, WebSocket>();
  /** Saves a structured-clone read of the attachment on every frame. */
  private readonly idOfSocket = new WeakMap<WebSocket, string>();
  private alarmAt: number | null = null;
  /** Connections a restart dropped, whose wills wait for the first ACL rules read from D1 (endConnectionsLostWhileAway). */
  private lostConnectionsWaitForRules = false;
  /** While the ACL rules cannot be read: when the alarm tries D1 again (rulesReadForTimers). */
  private rulesRetryAt = 0;
  /** Drops the principals of sessions that ended, once more than `allowance` wait (durable-objects/principal-store.ts). */
  private forgetEndedPrincipals!: (allowance: number) => void;
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

  constructor(ctx: DurableObjectState, env: ShardEnv) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const config = parseBrokerConfig(env);
      const clock = { now: () => Date.now() };
      this.cluster = new ShardCluster(env, ctx.id.name, clock, () => config.sysIntervalMs);
      this.security = new ShardSecurity(env, ctx.storage.sql, clock, this.cluster.sharedIpCounter(), config.passwordHashBudget);
      this.security.onBan = (entry) => this.cluster.spreadBan(entry);
      this.security.cache.restartedAt(clock.now(), 900_000);
      // Topic ACLs: deny until the first snapshot from D1 says otherwise (it is loaded before any CONNECT is accepted).
      const policyFromVars = parseAclDefaultPolicy(env);
      const authorizer = new AclAuthorizer(loadAclSnapshot({ aclRules: [], credentials: [], version: -1, defaultPolicy: 'deny' }));
      const principals = new PrincipalStore(ctx.storage.sql);
      const denialLimitFromVars = config.aclDenialsBeforeDisconnect;
      this.security.onSnapshot = (loaded) => {
        authorizer.replaceSnapshot(
          loadAclSnapshot({
            aclRules: loaded.rows.aclRules,
            credentials: loaded.rows.ruleCredentials,
            version: loaded.version,
            // An imported acl_file stores `deny` here, so its rules keep mosquitto's meaning under ACL_DEFAULT_POLICY=allow.
            defaultPolicy: aclDefaultPolicy(loaded.rows.settings, policyFromVars),
          }),
        );
        // The engine reads its config on every denied PUBLISH, so open connections get the new limit too.
        config.aclDenialsBeforeDisconnect = aclDenialLimit(loaded.rows.settings, denialLimitFromVars);
        if (this.lostConnectionsWaitForRules) {
          this.lostConnectionsWaitForRules = false;
          this.run(() => this.engine.endConnectionsLostWhileAway());
        }
      };
      const sessionPrincipals = new SessionPrincipals(authorizer, principals, clock, (clientId) => this.engine.sessions.get(clientId)?.rowStored === true);
      this.security.onAccepted = sessionPrincipals.onAccepted;
      this.forgetEndedPrincipals = (allowance) => sessionPrincipals.forgetEnded(this.engine.sessions, allowance);
      this.admin = new ShardAdmin(ctx, () => this.engine, () => this.syncAlarm(), clock, this.cluster.identity);
      const transport: Transport = {
        send: (id, bytes) => this.sendTo(id, bytes),
        close: (id, code, reason) => this.closeSocket(id, code, reason),
        saveConnectionSnapshot: (id, snapshot) => this.sockets.get(id)?.serializeAttachment(snapshot),
      };
      const cluster = new ClusterNode({
        self: this.cluster.identity.current().index,
        shardCount: this.cluster.identity.current().count,
        store: new SqliteClusterStore(ctx.storage.sql),
        bus: rpcMessageBus(env.BROKER),
        clock,
        wakeChanged: () => this.syncAlarm(),
      });
      this.engine = new BrokerEngine({
        cluster,
        config,
        store: new SqliteSessionStore(ctx.storage.sql),
        transport,
        clock,
        authenticator: this.security.authenticator,
        authorizer,
        events: combineEvents(this.security.events, this.admin.live.events),
        sessionStored: sessionPrincipals.sessionStored,
      });
      // $SYS/broker/... sums the cluster: the other shards' figures come over RPC, only while $SYS has subscribers.
      this.engine.sys.useCluster(this.cluster.figures);
      const snapshots: ConnectionSnapshot[] = [];
      for (const ws of ctx.getWebSockets()) {
        if (this.admin.live.owns(ws)) continue;
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
      authorizer.restorePrincipals(principals.loadFor(new Set(this.engine.sessions.keys())));
      // Sessions survived a restart: their ACLs need the rules from D1 before the next delivery (see withoutRules, clusterDeliver).
      if (this.waitingForRules) await this.readRules();
      // Only now are the wills of connections the restart dropped judged, by their own identities and the rules just read.
      // Should D1 not answer, they wait for the first snapshot (onSnapshot), which the alarm keeps trying for.
      if (this.security.hasRules || !this.waitingForRules) this.run(() => this.engine.endConnectionsLostWhileAway());
      else {
        this.lostConnectionsWaitForRules = true;
        this.rulesRetryAt = Date.now() + RULES_RETRY_MS;
      }
      this.alarmAt = await ctx.storage.getAlarm();
      this.syncAlarm();
    });
  }

  override async fetch(request: Request): Promise<Response> {
    if (this.admin.live.isEventsRequest(request)) return this.admin.live.accept(request);
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
    this.engine.counters.upgrades++;
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
    this.engine.counters.webSocketMessagesIn++;
    if (!this.security.hasRules && this.engine.connections.get(id)?.state === 'connected') return this.withoutRules(id, message);
    return this.handleMessage(id, message);
  }

  private handleMessage(id: string, message: string | ArrayBuffer): Promise<void> | void {
    const pending = this.run(() => {
      if (typeof message === 'string') return this.controlMessage(id, message);
      return this.engine.receive(id, new Uint8Array(message));
    });
    if (pending) return pending.then(() => this.syncAlarm());
    this.syncAlarm();
  }

  // Not async, as webSocketMessage: every device's close comes here, and the rules are almost never missing.
  override webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> | void {
    return this.whenItsWillCanBeJudged(ws, () => {
      this.run(() => this.socketGone(ws));
      try {
        ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
      } catch {
        // Already closed.
      }
    });
  }

  override webSocketError(ws: WebSocket): Promise<void> | void {
    return this.whenItsWillCanBeJudged(ws, () => this.run(() => this.socketGone(ws)));
  }

  /** Runs `then` once the socket's will, if any, can be judged (readRulesBeforeWill): at once, as a rule. */
  private whenItsWillCanBeJudged(ws: WebSocket, then: () => void): Promise<void> | void {
    const reading = this.readRulesBeforeWill(this.clientIdOf(ws));
    if (reading) return reading.then(then);
    then();
  }

  /**
   * A session with a will that survived a wake without the ACL rules is
   * about to end (its socket closed, or an administrator ends it): its will
   * may be judged now, so the rules are read first, in order with every
   * other event. If D1 still does not answer the will is refused, as
   * deny-all decides: a will is acknowledged to no one, and letting it
   * through unjudged could publish where its client may not. Undefined when
   * there is nothing to wait for.
   */
  private readRulesBeforeWill(clientId: string | null): Promise<void> | undefined {
    if (this.security.hasRules || !clientId || !this.engine.sessions.get(clientId)?.record.will) return undefined;
    return this.ctx.blockConcurrencyWhile(() => this.readRules());
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.engine.counters.alarms++;
    const judging = await this.rulesReadForTimers();
    if (judging && this.engine.sys.active) await this.cluster.figures.beforeTick();
    this.run(() => this.engine.onTimer(judging));
    this.forgetEndedPrincipals(0);
    this.security.deleteExpiredVerifications();
    this.admin.stats.onAlarm(this.sockets.size > 0);
    // A $SYS round that the tick started finishes inside this alarm.
    await this.cluster.figures.settled();
    const recheck = this.security.nextRecheckAt(this.sockets.size > 0);
    if (judging && recheck !== null && recheck <= Date.now()) {
      // Configuration changes made outside the admin API (CLI on D1, another region) still reach open connections.
      await this.security.ensureFresh().catch((err) => console.error('configuration refresh failed', err));
    }
    this.syncAlarm();
  }

  /**
   * Sessions survived a restart and the ACL rules they are judged by are not
   * read yet: until they are, the deny-all placeholder stands in for them.
   */
  private get waitingForRules(): boolean {
    return !this.security.hasRules && this.engine.sessions.size > 0;
  }

  /** Reads the configuration (the ACL rules among it) from D1; a failure is logged, and hasRules tells the outcome. */
  private readRules(): Promise<void> {
    return this.security.ensureFresh().then(
      () => undefined,
      (err) => console.error('security configuration could not be read', err),
    );
  }

  /**
   * Whether the alarm may run the timers the ACL rules judge (delayed wills,
   * $SYS; BrokerEngine.onTimer). A shard that woke with sessions but could
   * not read the rules from D1 would refuse all of those by the deny-all
   * placeholder, so it tries D1 again here and, while it still cannot, holds
   * them back; the rest of the alarm runs. The next try is RULES_RETRY_MS
   * away (syncAlarm), not at the next event: the past-due will that waits
   * would otherwise bring the alarm back at once.
   */
  private async rulesReadForTimers(): Promise<boolean> {
    if (!this.waitingForRules) return true;
    await this.readRules();
    if (this.security.hasRules) return true;
    this.rulesRetryAt = Date.now() + RULES_RETRY_MS;
    return false;
  }

  /**
   * Another shard's batch (protocol/cluster/cluster-node.ts): applied once,
   * confirmed once durable here; the receipt names the entries whose
   * recipients here are behind, released later by clusterReleased.
   */
  clusterDeliver(batch: ClusterBatch): ClusterReceipt | Promise<ClusterReceipt> {
    this.engine.counters.clusterCallsIn++;
    const deliver = () => {
      const receipt = this.run(() => this.engine.cluster.receive(batch));
      this.syncAlarm();
      return receipt;
    };
    // Unread rules would refuse every delivery and the batch be confirmed for nothing: it fails, and its link retries.
    return this.waitingForRules ? this.security.ensureFresh().then(deliver) : deliver();
  }

  /** Shard `from` no longer holds entries this shard sent it: their publishers' acks may leave. */
  clusterReleased(from: number, seqs: number[]): void {
    this.engine.counters.clusterCallsIn++;
    // The released PUBACKs leave when run returns.
    this.run(() => this.engine.cluster.entriesReleased(from, seqs));
    this.syncAlarm();
  }

  /** Which of these entries from shard `from` this shard still holds (that shard asking after a while). */
  clusterStillHeld(from: number, seqs: number[]): number[] {
    this.engine.counters.clusterCallsIn++;
    return this.engine.cluster.stillHeld(from, seqs);
  }

  /** Retained messages whose home is this shard, for another shard's new subscription. */
  clusterRetained(filters: string[]): BrokerMessage[] {
    this.engine.counters.clusterCallsIn++;
    return this.engine.retainedMatching(filters, Date.now());
  }

  /** This shard's place in the cluster as the edge last said it; null before any routed connection. */
  shardIdentity(): ShardIdentity {
    return this.cluster.identity.current();
  }

  /** Another shard made an automatic ban: enforce it now (D1 has it too, for the next reload). */
  applyBan(entry: BlockEntry): void {
    this.security.applyBan(entry);
  }

  /**
   * Resets this object as eviction would: memory and sockets are gone, SQLite
   * stays, and the next request starts it again (the admin API's shard restart).
   */
  restart(): void {
    this.ctx.abort('restarted by an operator');
  }

  /** The admin API changed credentials, ACLs, blocks, providers or settings. */
  async configChanged(): Promise<void> {
    await this.security.configChanged();
  }

  // Admin API (RPC): the parts live in durable-objects/admin/.
  listSessions(query: SessionQuery) {
    return this.admin.state.listSessions(query);
  }
  getSession(clientId: string) {
    return this.admin.state.getSession(clientId);
  }
  async disconnectSession(clientId: string) {
    await this.readRulesBeforeWill(clientId);
    return this.admin.state.disconnectSession(clientId);
  }
  async removeSession(clientId: string) {
    await this.readRulesBeforeWill(clientId);
    return this.admin.state.removeSession(clientId);
  }
  listSubscriptions(query: SubscriptionQuery) {
    return this.admin.state.listSubscriptions(query);
  }
  listRetained(query: RetainedQuery) {
    return this.admin.state.listRetained(query);
  }
  getRetained(topic: string) {
    return this.admin.state.getRetained(topic);
  }
  deleteRetained(topic: string) {
    return this.admin.state.deleteRetained(topic);
  }
  deleteAllRetained() {
    return this.admin.state.deleteAllRetained();
  }
  stats() {
    return this.admin.stats.now();
  }
  /** This shard's $SYS figures, for the other shards' $SYS/broker/... totals. */
  sysFigures() {
    return this.engine.sys.figures(Date.now());
  }
  statsHistory(query: { from?: number; to?: number }) {
    return this.admin.stats.history(query);
  }

  /**
   * A packet from a connection that survived a restart, while the ACL rules
   * from D1 are still unread: with the deny-all placeholder in force every
   * delivery would be refused, and a PUBLISH acknowledged for nothing. The
   * rules are read first, other events waiting so the connection's packets
   * stay in order; if D1 still does not answer, the connection is closed
   * with this packet unhandled (5.0: DISCONNECT 0x89, Server busy), so nothing is
   * acknowledged, and the client resends once it is back.
   */
  private withoutRules(id: string, message: string | ArrayBuffer): Promise<void> {
    return this.ctx.blockConcurrencyWhile(async () => {
      await this.readRules();
      const conn = this.engine.connections.get(id);
      if (!conn) return;
      if (!this.security.hasRules) {
        this.run(() => this.engine.disconnect(conn, RC.SERVER_BUSY, 'access rules unavailable', 'administrative'));
        this.syncAlarm();
        return;
      }
      // Inside blockConcurrencyWhile a throw would reset the object: an error here ends this packet only, as elsewhere.
      await Promise.resolve(this.handleMessage(id, message)).catch((err) => console.error('packet after reading the rules failed', err));
    });
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

  /**
   * A text frame. Clients' text frames never get here: the edge gateway
   * refuses them [MQTT-6.0.0-1] and uses text frames only for its own
   * messages about the connection (worker/gateway/control.ts).
   */
  private controlMessage(id: string, text: string): Promise<void> | void {
    const control = this.engine.connections.get(id)?.trusted.keepaliveAtEdge ? decodeControl(text) : null;
    if (control?.type === 'keepalive-expired') return this.engine.keepaliveExpired(id);
    // A violation may wait for packets held before it (BrokerEngine.endInputWith); its end then syncs the alarm.
    if (control?.type === 'violation') return this.engine.protocolViolation(id, control.reason, control.reasonCode);
    return this.engine.protocolViolation(id, 'text WebSocket frame');
  }

  private socketGone(ws: WebSocket): void {
    const id = this.connectionIdOf(ws);
    if (!id) return;
    this.sockets.delete(id);
    this.engine.connectionLost(id);
    this.forgetEndedPrincipals(ENDED_PRINCIPALS_SLACK);
    this.syncAlarm();
  }

  /** The client id of a socket's connection, once its CONNECT was accepted. */
  private clientIdOf(ws: WebSocket): string | null {
    const id = this.connectionIdOf(ws);
    const conn = id ? this.engine.connections.get(id) : undefined;
    return conn?.state === 'connected' ? conn.clientId : null;
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
    // flush deletes the entry it sends, which a Map's iteration allows.
    for (const id of this.outbox.keys()) this.flush(id);
  }

  private flush(id: string): void {
    const frames = this.outbox.get(id);
    if (!frames) return;
    this.outbox.delete(id);
    const ws = this.sockets.get(id);
    if (!ws) return;
    try {
      ws.send(concatBytes(frames));
      this.engine.counters.webSocketMessagesOut++;
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
    // After every event: no array.
    const connected = this.sockets.size > 0;
    let next = earliest(earliest(this.engine.nextWakeAt(), this.security.nextRecheckAt(connected)), this.admin.stats.nextSampleAt(connected));
    // Wills of connections a restart dropped wait for the rules too: the alarm keeps trying for them
    // (only while there are sessions, whose presence is what makes the alarm read D1).
    if (this.lostConnectionsWaitForRules && this.waitingForRules) next = earliest(next, this.rulesRetryAt);
    // Timers held back for the rules wait for the next try (rulesReadForTimers).
    if (next !== null && next < this.rulesRetryAt && this.waitingForRules) next = this.rulesRetryAt;
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

function earliest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}
