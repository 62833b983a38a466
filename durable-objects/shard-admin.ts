import type { Page } from '../db/queries/paging';
import type { BrokerEngine } from '../protocol/engine/broker-engine';
import type { Session } from '../protocol/engine/session';
import type { BrokerEvents } from '../protocol/ports';
import { RC } from '../protocol/reason-codes';
import type { BrokerMessage } from '../protocol/store/records';
import { topicMatchesFilter } from '../protocol/topics/match';
import { parseSharedFilter, validateTopicFilter } from '../protocol/topics/validate';

/**
 * What the admin API asks of a broker shard: sessions, subscriptions,
 * retained messages, statistics and the live event stream. BrokerShard
 * forwards its RPC methods here one to one, so the platform class stays thin.
 */

/** Hibernatable sockets of the live event stream carry this tag; MQTT sockets carry none. */
export const ADMIN_EVENTS_TAG = 'admin-events';
/** Path of the internal request the edge Worker sends to open an event stream. */
export const ADMIN_EVENTS_PATH = '/admin/events';
/** Header carrying the subprotocol the dashboard offered (the token), to be echoed on the 101. */
export const ADMIN_EVENTS_PROTOCOL_HEADER = 'x-edgemq-events-protocol';

/** One sample per minute for a day, in a ring of fixed slots. */
const SAMPLE_INTERVAL_MS = 60_000;
const HISTORY_SLOTS = 1440;
/** Bytes of payload a list shows per retained message; GET /retained/{topic} returns it all. */
const PAYLOAD_PREVIEW_BYTES = 1024;

export type { Page };

export interface SessionQuery {
  clientId?: string;
  username?: string;
  ip?: string;
  connected?: boolean;
  cleanStart?: boolean;
  sort?: 'clientId' | 'username' | 'ip' | 'connected' | 'createdAt' | 'disconnectedAt' | 'subscriptions';
  order?: 'asc' | 'desc';
  page: number;
  pageSize: number;
}

export interface SessionView {
  clientId: string;
  connected: boolean;
  username: string | null;
  /** Known while the client is connected. */
  ip: string | null;
  protocolVersion: number;
  /** True when the session ends with its connection (3.1.1 Clean Session, or MQTT 5 Session Expiry Interval 0). */
  cleanStart: boolean;
  sessionExpiryInterval: number;
  keepAlive: number | null;
  subscriptions: number;
  queueDepth: number;
  inflight: number;
  droppedMessages: number;
  createdAt: string;
  connectedAt: string | null;
  disconnectedAt: string | null;
  expiresAt: string | null;
}

export interface SubscriptionView {
  clientId: string;
  /** The filter without any `$share/<group>/` prefix. */
  topicFilter: string;
  shareGroup: string | null;
  qos: number;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: number;
  subscriptionIdentifier: number | null;
  createdAt: string;
}

export interface SessionDetail extends SessionView {
  subscriptionList: SubscriptionView[];
  willPending: boolean;
}

export interface SubscriptionQuery {
  clientId?: string;
  /** Substring of the topic filter. */
  topicFilter?: string;
  qos?: number[];
  shareGroup?: string;
  /** true: only shared subscriptions; false: only direct ones. */
  shared?: boolean;
  page: number;
  pageSize: number;
}

export interface RetainedQuery {
  /** Substring of the topic. */
  topic?: string;
  /** An MQTT topic filter the topic must match (`sensors/+/temp`). */
  filter?: string;
  from?: number;
  to?: number;
  page: number;
  pageSize: number;
}

export interface RetainedView {
  topic: string;
  qos: number;
  payloadSize: number;
  /** UTF-8 text of the (possibly cut) payload, or null when it is not text. */
  payload: string | null;
  payloadBase64: string;
  payloadTruncated: boolean;
  contentType: string | null;
  createdAt: string;
  expiresAt: string | null;
}

export interface StatsView {
  at: string;
  startedAt: string;
  uptimeSeconds: number;
  /** Connected MQTT clients now. */
  connections: number;
  connectionsTotal: number;
  /** MQTT packets of any kind, as mosquitto's $SYS/broker/messages/*. */
  messagesIn: number;
  messagesOut: number;
  publishIn: number;
  publishOut: number;
  bytesIn: number;
  bytesOut: number;
  dropped: number;
  authFailures: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  /** Billed Durable Object events since startedAt (see docs/cost.md). */
  durableObject: DurableObjectEvents;
}

export interface DurableObjectEvents {
  webSocketMessagesIn: number;
  webSocketMessagesOut: number;
  upgrades: number;
  alarms: number;
}

export type StatsSample = Omit<StatsView, 'startedAt' | 'uptimeSeconds' | 'durableObject'>;

export interface LiveEvent {
  type: 'connected' | 'disconnected' | 'auth-failure';
  at: string;
  clientId: string;
  username: string | null;
  ip: string | null;
  reasonCode?: string;
  reason?: string;
}

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

function includesFolded(haystack: string | null, needle: string): boolean {
  return haystack !== null && haystack.toLowerCase().includes(needle.toLowerCase());
}

function paginate<T>(rows: T[], page: number, pageSize: number): Page<T> {
  const totalElements = rows.length;
  return {
    data: rows.slice(page * pageSize, (page + 1) * pageSize),
    page,
    pageSize,
    totalElements,
    totalPages: Math.ceil(totalElements / pageSize),
    hasNext: (page + 1) * pageSize < totalElements,
  };
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function asText(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

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

export class ShardAdmin {
  /** Where connected clients came from, so a disconnect event can say it. */
  private readonly ipOfClient = new Map<string, string>();
  private lastSampleAt: number | null = null;
  private historyReady = false;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly engine: () => BrokerEngine,
    /** Engine state changed outside a packet: the shard re-arms its alarm. */
    private readonly changed: () => void,
  ) {}

  // ---------------------------------------------------------------- live events

  readonly events: BrokerEvents = {
    clientConnected: ({ clientId, username, ip }) => {
      this.ipOfClient.set(clientId, ip);
      this.broadcast({ type: 'connected', at: new Date().toISOString(), clientId, username, ip });
    },
    clientDisconnected: ({ clientId, reason }) => {
      const ip = this.ipOfClient.get(clientId) ?? null;
      this.ipOfClient.delete(clientId);
      const username = this.engine().sessions.get(clientId)?.record.username ?? null;
      this.broadcast({ type: 'disconnected', at: new Date().toISOString(), clientId, username, ip, reason });
    },
    connectRefused: ({ clientId, username, ip, reasonCode, reason }) => {
      const code = reason?.code ?? `0x${reasonCode.toString(16).padStart(2, '0')}`;
      this.broadcast({ type: 'auth-failure', at: new Date().toISOString(), clientId, username, ip, reasonCode: code, reason: reason?.text });
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
  acceptEvents(request: Request): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [ADMIN_EVENTS_TAG]);
    const protocol = request.headers.get(ADMIN_EVENTS_PROTOCOL_HEADER);
    return new Response(null, { status: 101, webSocket: client, headers: protocol ? { 'Sec-WebSocket-Protocol': protocol } : {} });
  }

  private broadcast(event: LiveEvent): void {
    const listeners = this.ctx.getWebSockets(ADMIN_EVENTS_TAG);
    if (listeners.length === 0) return;
    const text = JSON.stringify(event);
    for (const ws of listeners) {
      try {
        ws.send(text);
      } catch {
        // Closing; webSocketClose cleans up.
      }
    }
  }

  // ---------------------------------------------------------------- sessions

  private sessionView(session: Session, withCounts: boolean): SessionView {
    const engine = this.engine();
    const conn = engine.connectionOf(session);
    const r = session.record;
    if (withCounts) engine.ensureLoaded(session);
    return {
      clientId: session.clientId,
      connected: conn !== undefined,
      username: r.username,
      ip: conn?.trusted.ip ?? null,
      protocolVersion: r.protocolVersion,
      cleanStart: r.expiryInterval === 0,
      sessionExpiryInterval: r.expiryInterval,
      keepAlive: conn ? conn.keepaliveSeconds : null,
      subscriptions: engine.subscriptions.countForClient(session.clientId),
      queueDepth: session.queueLength(),
      inflight: session.outbound.size,
      droppedMessages: r.droppedMessages,
      createdAt: iso(r.createdAt)!,
      connectedAt: conn ? iso(conn.openedAt) : null,
      disconnectedAt: iso(r.disconnectedAt),
      expiresAt: iso(session.expiresAt()),
    };
  }

  listSessions(q: SessionQuery): Page<SessionView> {
    const engine = this.engine();
    const rows: Array<{ session: Session; ip: string | null; connected: boolean }> = [];
    for (const session of engine.sessions.values()) {
      const conn = engine.connectionOf(session);
      const ip = conn?.trusted.ip ?? null;
      if (q.clientId && !includesFolded(session.clientId, q.clientId)) continue;
      if (q.username && !includesFolded(session.record.username, q.username)) continue;
      if (q.ip && !includesFolded(ip, q.ip)) continue;
      if (q.connected !== undefined && (conn !== undefined) !== q.connected) continue;
      if (q.cleanStart !== undefined && (session.record.expiryInterval === 0) !== q.cleanStart) continue;
      rows.push({ session, ip, connected: conn !== undefined });
    }
    const key = q.sort ?? 'clientId';
    const value = (row: (typeof rows)[number]): string | number => {
      const r = row.session.record;
      switch (key) {
        case 'username':
          return r.username ?? '';
        case 'ip':
          return row.ip ?? '';
        case 'connected':
          return row.connected ? 1 : 0;
        case 'createdAt':
          return r.createdAt;
        case 'disconnectedAt':
          return r.disconnectedAt ?? 0;
        case 'subscriptions':
          return engine.subscriptions.countForClient(row.session.clientId);
        default:
          return row.session.clientId;
      }
    };
    const sign = q.order === 'desc' ? -1 : 1;
    rows.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      const c = va < vb ? -1 : va > vb ? 1 : 0;
      return c !== 0 ? c * sign : a.session.clientId < b.session.clientId ? -1 : 1;
    });
    const page = paginate(rows, q.page, q.pageSize);
    // Queue and in-flight counts need the session's stored state: load it only for the rows shown.
    return { ...page, data: page.data.map((row) => this.sessionView(row.session, true)) };
  }

  getSession(clientId: string): SessionDetail | null {
    const engine = this.engine();
    const session = engine.sessions.get(clientId);
    if (!session) return null;
    return {
      ...this.sessionView(session, true),
      subscriptionList: engine.subscriptions.forClient(clientId).map((s) => subscriptionView(s.value)),
      willPending: session.record.will !== null,
    };
  }

  /** Sends MQTT 5 clients DISCONNECT 0x98 (Administrative action); 3.1.1 clients are just closed. */
  disconnectSession(clientId: string): boolean {
    const engine = this.engine();
    const session = engine.sessions.get(clientId);
    const conn = session ? engine.connectionOf(session) : undefined;
    if (!conn) return false;
    engine.disconnect(conn, RC.ADMINISTRATIVE_ACTION, 'disconnected by an administrator', 'administrative');
    this.changed();
    return true;
  }

  /** Ends the session, connected or not, with everything it owned. */
  removeSession(clientId: string): boolean {
    const engine = this.engine();
    const session = engine.sessions.get(clientId);
    if (!session) return false;
    const conn = engine.connectionOf(session);
    if (conn) engine.disconnect(conn, RC.ADMINISTRATIVE_ACTION, 'session removed by an administrator', 'administrative');
    // The disconnect may already have ended a non-persistent session.
    const still = engine.sessions.get(clientId);
    if (still) engine.endSession(still, Date.now());
    this.changed();
    return true;
  }

  // ---------------------------------------------------------------- subscriptions

  listSubscriptions(q: SubscriptionQuery): Page<SubscriptionView> {
    const rows: SubscriptionView[] = [];
    const qos = q.qos && q.qos.length > 0 ? new Set(q.qos) : null;
    for (const entry of this.engine().subscriptions.entries()) {
      const view = subscriptionView(entry.value);
      if (q.clientId && !includesFolded(view.clientId, q.clientId)) continue;
      if (q.topicFilter && !includesFolded(view.topicFilter, q.topicFilter)) continue;
      if (qos && !qos.has(view.qos)) continue;
      if (q.shareGroup && view.shareGroup !== q.shareGroup) continue;
      if (q.shared !== undefined && (view.shareGroup !== null) !== q.shared) continue;
      rows.push(view);
    }
    rows.sort((a, b) => (a.topicFilter < b.topicFilter ? -1 : a.topicFilter > b.topicFilter ? 1 : a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    return paginate(rows, q.page, q.pageSize);
  }

  // ---------------------------------------------------------------- retained

  /** Returns null for an invalid filter. */
  listRetained(q: RetainedQuery): Page<RetainedView> | null {
    const engine = this.engine();
    if (q.filter !== undefined && validateTopicFilter(q.filter, { maxLength: engine.config.maxTopicLength, maxLevels: engine.config.maxTopicLevels }) !== null) return null;
    const now = Date.now();
    const rows: BrokerMessage[] = [];
    for (const [topic, message] of engine.retained.entries()) {
      if (message.expiresAt !== null && message.expiresAt <= now) continue;
      if (q.topic && !includesFolded(topic, q.topic)) continue;
      if (q.filter !== undefined && !topicMatchesFilter(topic, q.filter)) continue;
      if (q.from !== undefined && message.createdAt < q.from) continue;
      if (q.to !== undefined && message.createdAt > q.to) continue;
      rows.push(message);
    }
    rows.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
    const page = paginate(rows, q.page, q.pageSize);
    return { ...page, data: page.data.map((m) => retainedView(m, PAYLOAD_PREVIEW_BYTES)) };
  }

  getRetained(topic: string): RetainedView | null {
    const message = this.engine().retained.get(topic);
    if (!message || (message.expiresAt !== null && message.expiresAt <= Date.now())) return null;
    return retainedView(message, Infinity);
  }

  deleteRetained(topic: string): boolean {
    const engine = this.engine();
    if (!engine.retained.delete(topic)) return false;
    engine.store.deleteRetained(topic);
    return true;
  }

  deleteAllRetained(): number {
    const engine = this.engine();
    const topics = [...engine.retained.entries()].map(([topic]) => topic);
    for (const topic of topics) {
      engine.retained.delete(topic);
      engine.store.deleteRetained(topic);
    }
    return topics.length;
  }

  // ---------------------------------------------------------------- statistics

  stats(): StatsView {
    const engine = this.engine();
    const now = Date.now();
    const c = engine.counters;
    return {
      ...this.sample(now),
      startedAt: new Date(c.startedAt).toISOString(),
      uptimeSeconds: Math.max(0, Math.floor((now - c.startedAt) / 1000)),
      durableObject: { webSocketMessagesIn: c.webSocketMessagesIn, webSocketMessagesOut: c.webSocketMessagesOut, upgrades: c.upgrades, alarms: c.alarms },
    };
  }

  private sample(now: number): StatsSample {
    const engine = this.engine();
    const c = engine.counters;
    let connections = 0;
    for (const conn of engine.connections.values()) if (conn.state === 'connected') connections++;
    return {
      at: new Date(now).toISOString(),
      connections,
      connectionsTotal: c.connectionsTotal,
      messagesIn: c.messagesReceived,
      messagesOut: c.messagesSent,
      publishIn: c.publishReceived,
      publishOut: c.publishSent,
      bytesIn: c.bytesReceived,
      bytesOut: c.bytesSent,
      dropped: c.messagesDropped,
      authFailures: c.authFailures,
      sessions: engine.sessions.size,
      subscriptions: engine.subscriptions.size,
      retained: engine.retained.size,
    };
  }

  /** Per-minute samples of the last day (or since `from`), oldest first. */
  statsHistory(q: { from?: number; to?: number } = {}): StatsSample[] {
    this.ensureHistoryTable();
    const from = Math.max(q.from ?? 0, Date.now() - HISTORY_SLOTS * SAMPLE_INTERVAL_MS);
    const to = q.to ?? Number.MAX_SAFE_INTEGER;
    return this.ctx.storage.sql
      .exec(`SELECT sample FROM admin_stats_history WHERE at >= ? AND at <= ? ORDER BY at`, from, to)
      .toArray()
      .map((r) => JSON.parse(r.sample as string) as StatsSample);
  }

  /**
   * When the next sample is due. Samples are taken only while clients are
   * connected, so an idle shard is never woken to record zeros.
   */
  nextSampleAt(hasConnections: boolean): number | null {
    if (!hasConnections) return null;
    const last = this.lastSample();
    return last === null ? Date.now() : last + SAMPLE_INTERVAL_MS;
  }

  /** Called from the shard's alarm. */
  onAlarm(hasConnections: boolean): void {
    if (!hasConnections) return;
    const now = Date.now();
    const last = this.lastSample();
    if (last !== null && now < last + SAMPLE_INTERVAL_MS) return;
    this.ensureHistoryTable();
    const slot = Math.floor(now / SAMPLE_INTERVAL_MS) % HISTORY_SLOTS;
    this.ctx.storage.sql.exec(
      `INSERT OR REPLACE INTO admin_stats_history (slot, at, sample) VALUES (?, ?, ?)`,
      slot,
      now,
      JSON.stringify(this.sample(now)),
    );
    this.lastSampleAt = now;
  }

  private lastSample(): number | null {
    if (this.lastSampleAt === null) {
      this.ensureHistoryTable();
      const row = this.ctx.storage.sql.exec(`SELECT max(at) AS at FROM admin_stats_history`).toArray()[0];
      this.lastSampleAt = (row?.at as number | null) ?? null;
    }
    return this.lastSampleAt;
  }

  private ensureHistoryTable(): void {
    if (this.historyReady) return;
    this.ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS admin_stats_history (slot INTEGER PRIMARY KEY, at INTEGER NOT NULL, sample TEXT NOT NULL)`);
    this.historyReady = true;
  }
}

function subscriptionView(s: {
  clientId: string;
  filter: string;
  qos: number;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: number;
  subscriptionId: number | null;
  createdAt: number;
}): SubscriptionView {
  const shared = parseSharedFilter(s.filter);
  return {
    clientId: s.clientId,
    topicFilter: shared ? shared.filter : s.filter,
    shareGroup: shared ? shared.group : null,
    qos: s.qos,
    noLocal: s.noLocal,
    retainAsPublished: s.retainAsPublished,
    retainHandling: s.retainHandling,
    subscriptionIdentifier: s.subscriptionId,
    createdAt: new Date(s.createdAt).toISOString(),
  };
}

function retainedView(m: BrokerMessage, previewBytes: number): RetainedView {
  const truncated = m.payload.byteLength > previewBytes;
  const shown = truncated ? m.payload.subarray(0, previewBytes) : m.payload;
  return {
    topic: m.topic,
    qos: m.qos,
    payloadSize: m.payload.byteLength,
    // A cut may split a UTF-8 sequence; the text is shown only when what is shown decodes.
    payload: asText(shown),
    payloadBase64: base64(shown),
    payloadTruncated: truncated,
    contentType: m.properties.contentType ?? null,
    createdAt: new Date(m.createdAt).toISOString(),
    expiresAt: iso(m.expiresAt),
  };
}
