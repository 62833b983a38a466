import {
  compareSessions,
  compareSubscriptions,
  type OnShard,
  type RetainedQuery,
  type RetainedView as RetainedRow,
  type SessionDetail as SessionDetailRow,
  type SessionQuery,
  type SessionView as SessionRow,
  type SubscriptionQuery,
  type SubscriptionView as SubscriptionRow,
} from '../../worker/admin/contract/broker';
import { compareValues, pageSlice, type Page } from '../../worker/admin/contract/page';
import type { BrokerEngine } from '../../protocol/engine/broker-engine';
import type { Session } from '../../protocol/engine/session';
import type { Clock } from '../../protocol/ports';
import { RC } from '../../protocol/reason-codes';
import type { BrokerMessage, SubscriptionRecord } from '../../protocol/store/records';
import { topicMatchesFilter } from '../../protocol/topics/match';
import { parseSharedFilter, validateTopicFilter } from '../../protocol/topics/validate';

// What this shard answers; the admin API adds the shard's index to every row.
type SessionView = OnShard<SessionRow>;
type SubscriptionView = OnShard<SubscriptionRow>;
type RetainedView = OnShard<RetainedRow>;
export type ShardSessionDetail = OnShard<Omit<SessionDetailRow, 'subscriptionList'>> & { subscriptionList: SubscriptionView[] };

/** Bytes of payload a list shows per retained message; GET /retained/{topic} returns it all. */
const PAYLOAD_PREVIEW_BYTES = 1024;

/**
 * The shard's sessions, subscriptions and retained messages as the admin API
 * shows them (the shapes of worker/admin/contract/broker.ts), filtered,
 * sorted and paged here, and the administrator's actions on them.
 */
export class BrokerState {
  constructor(
    private readonly engine: () => BrokerEngine,
    private readonly clock: Clock,
    /** Engine state changed outside a packet: the shard re-arms its alarm. */
    private readonly changed: () => void,
  ) {}

  // ---------------------------------------------------------------- sessions

  listSessions(q: SessionQuery): Page<SessionView> {
    const engine = this.engine();
    const rows: SessionView[] = [];
    for (const session of engine.sessions.values()) {
      const view = this.sessionView(session, false);
      if (q.clientId && !includesFolded(view.clientId, q.clientId)) continue;
      if (q.username && !includesFolded(view.username, q.username)) continue;
      if (q.ip && !includesFolded(view.ip, q.ip)) continue;
      if (q.connected !== undefined && view.connected !== q.connected) continue;
      if (q.cleanStart !== undefined && view.cleanStart !== q.cleanStart) continue;
      rows.push(view);
    }
    const page = pageSlice(
      rows.sort((a, b) => compareSessions(a, b, q.sort, q.order)),
      q.page,
      q.pageSize,
    );
    // Queue and in-flight counts need the session's stored state: load it only for the rows shown.
    return { ...page, data: page.data.map((row) => this.sessionView(engine.sessions.get(row.clientId)!, true)) };
  }

  getSession(clientId: string): ShardSessionDetail | null {
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
    if (still) engine.endSession(still, this.clock.now());
    this.changed();
    return true;
  }

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
    return pageSlice(rows.sort(compareSubscriptions), q.page, q.pageSize);
  }

  // ---------------------------------------------------------------- retained

  /** Returns null for an invalid filter. */
  listRetained(q: RetainedQuery): Page<RetainedView> | null {
    const engine = this.engine();
    if (q.filter !== undefined && validateTopicFilter(q.filter, { maxLength: engine.config.maxTopicLength, maxLevels: engine.config.maxTopicLevels }) !== null) return null;
    const now = this.clock.now();
    const rows: BrokerMessage[] = [];
    for (const [topic, message] of engine.retained.entries()) {
      if (message.expiresAt !== null && message.expiresAt <= now) continue;
      if (q.topic && !includesFolded(topic, q.topic)) continue;
      if (q.filter !== undefined && !topicMatchesFilter(topic, q.filter)) continue;
      if (q.from !== undefined && message.createdAt < q.from) continue;
      if (q.to !== undefined && message.createdAt > q.to) continue;
      rows.push(message);
    }
    // By topic, as compareRetained orders the views; only the rows shown are encoded.
    rows.sort((a, b) => compareValues(a.topic, b.topic));
    const page = pageSlice(rows, q.page, q.pageSize);
    return { ...page, data: page.data.map((m) => retainedView(m, PAYLOAD_PREVIEW_BYTES)) };
  }

  getRetained(topic: string): RetainedView | null {
    const message = this.engine().retained.get(topic);
    if (!message || (message.expiresAt !== null && message.expiresAt <= this.clock.now())) return null;
    return retainedView(message, Infinity);
  }

  deleteRetained(topic: string): boolean {
    return this.engine().deleteRetained(topic);
  }

  deleteAllRetained(): number {
    const engine = this.engine();
    const topics = [...engine.retained.entries()].map(([topic]) => topic);
    for (const topic of topics) engine.deleteRetained(topic);
    return topics.length;
  }
}

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

function includesFolded(haystack: string | null, needle: string): boolean {
  return haystack !== null && haystack.toLowerCase().includes(needle.toLowerCase());
}

function subscriptionView(s: SubscriptionRecord): SubscriptionView {
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
