import { queuedSize } from '../protocol/store/records';
import type { BrokerCounters, BrokerMessage, Delivery, MessageProperties, OutboundRecord, QueuedRecord, SessionRecord, SubscriptionRecord, WillRecord } from '../protocol/store/records';
import type { SessionStore } from '../protocol/store/session-store';

/**
 * 1: initial tables. 2: queue.bytes, each row's share of its session's byte bound.
 * 3: admin_stats_history, the per-minute statistics samples (durable-objects/admin/stats-history.ts).
 */
const SCHEMA_VERSION = 3;

/** One delivery's columns, the same in outbound and in queue (see deliveryColumns and rowToDelivery). */
const DELIVERY_COLUMNS = `qos INTEGER NOT NULL,
        retain INTEGER NOT NULL,
        subscription_ids TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        message TEXT NOT NULL`;

/**
 * SessionStore on Durable Object SQLite. Every statement is a constant string
 * with bound values. Message bodies are BLOBs; the small, rarely-read parts
 * (properties, wills) are JSON with binary fields base64-encoded.
 */
export class SqliteSessionStore implements SessionStore {
  /**
   * Client ids that may have rows in outbound, queue or inbound_qos2: every
   * session stored before this instance started, and every client id this
   * instance wrote such a row for. A session that never outlived its
   * connection has none, so ending it skips three deletes, each a statement
   * SQLite runs for every clean session's close (docs/benchmarks.md). A
   * superset is safe: it only costs those deletes. Rows are never written
   * without their session row (they belong to a stored session, persistent
   * or spilled, and deleteSession removes both in one event), so the sessions table
   * names every client id with rows left by an earlier instance. Built from
   * the sessions loadSessions reads when the engine wakes, so waking reads
   * the table once; read on its own only if something comes first.
   */
  private mayHold: Set<string> | null = null;

  constructor(private readonly sql: SqlStorage) {
    this.migrate();
  }

  private mayHoldDeliveryState(): Set<string> {
    this.mayHold ??= new Set(this.sql.exec(`SELECT client_id FROM sessions`).toArray().map((r) => r.client_id as string));
    return this.mayHold;
  }

  private migrate(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const row = this.sql.exec(`SELECT value FROM meta WHERE key = 'schema_version'`).toArray()[0];
    const current = row ? Number(row.value) : 0;
    if (current >= SCHEMA_VERSION) return;
    if (current === 1) {
      // Rows queued before the byte bound existed get the size queuedSize() would have given them.
      this.sql.exec(`ALTER TABLE queue ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0`);
      this.sql.exec(`UPDATE queue SET bytes = length(topic) + length(payload)`);
    } else if (current === 0) {
      this.createTables();
    }

    // Version 3: the statistics history, kept with the rest of the shard's schema.
    if (current < 3) {
      this.sql.exec(`CREATE TABLE IF NOT EXISTS admin_stats_history (slot INTEGER PRIMARY KEY, at INTEGER NOT NULL, sample TEXT NOT NULL)`);
    }

    this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)`, String(SCHEMA_VERSION));
  }

  /** The tables of schema version 2, for a new shard. */
  private createTables(): void {
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS sessions (
        client_id TEXT PRIMARY KEY,
        protocol_version INTEGER NOT NULL,
        expiry_interval INTEGER NOT NULL,
        disconnected_at INTEGER,
        will TEXT,
        will_due_at INTEGER,
        dropped_messages INTEGER NOT NULL DEFAULT 0,
        username TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS subscriptions (
        client_id TEXT NOT NULL,
        filter TEXT NOT NULL,
        qos INTEGER NOT NULL,
        no_local INTEGER NOT NULL,
        retain_as_published INTEGER NOT NULL,
        retain_handling INTEGER NOT NULL,
        subscription_id INTEGER,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (client_id, filter)
      );
      CREATE TABLE IF NOT EXISTS outbound (
        client_id TEXT NOT NULL,
        packet_id INTEGER NOT NULL,
        state TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ${DELIVERY_COLUMNS},
        PRIMARY KEY (client_id, packet_id)
      );
      CREATE TABLE IF NOT EXISTS queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL,
        ${DELIVERY_COLUMNS},
        bytes INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS queue_by_client ON queue (client_id, seq);
      CREATE TABLE IF NOT EXISTS inbound_qos2 (
        client_id TEXT NOT NULL,
        packet_id INTEGER NOT NULL,
        PRIMARY KEY (client_id, packet_id)
      );
      CREATE TABLE IF NOT EXISTS retained (
        topic TEXT PRIMARY KEY,
        payload BLOB NOT NULL,
        message TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS topic_aliases (
        connection_id TEXT NOT NULL,
        alias INTEGER NOT NULL,
        topic TEXT NOT NULL,
        PRIMARY KEY (connection_id, alias)
      );
      CREATE TABLE IF NOT EXISTS counters (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL);
    `);
  }

  // ------------------------------------------------------------ sessions

  loadSessions(): SessionRecord[] {
    const sessions: SessionRecord[] = this.sql.exec(`SELECT * FROM sessions`).toArray().map((r) => ({
      clientId: r.client_id as string,
      protocolVersion: r.protocol_version as 3 | 4 | 5,
      expiryInterval: r.expiry_interval as number,
      disconnectedAt: (r.disconnected_at as number | null) ?? null,
      will: r.will ? decodeWill(r.will as string) : null,
      willDueAt: (r.will_due_at as number | null) ?? null,
      droppedMessages: r.dropped_messages as number,
      username: (r.username as string | null) ?? null,
      createdAt: r.created_at as number,
    }));
    this.mayHold ??= new Set(sessions.map((s) => s.clientId));
    return sessions;
  }

  saveSession(s: SessionRecord): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO sessions (client_id, protocol_version, expiry_interval, disconnected_at, will, will_due_at, dropped_messages, username, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      s.clientId,
      s.protocolVersion,
      s.expiryInterval,
      s.disconnectedAt,
      s.will ? encodeWill(s.will) : null,
      s.willDueAt,
      s.droppedMessages,
      s.username,
      s.createdAt,
    );
  }

  deleteSession(clientId: string): void {
    // Asked before the session row goes: it may be what names the client id.
    const hadDeliveryState = this.mayHoldDeliveryState().delete(clientId);
    this.sql.exec(`DELETE FROM sessions WHERE client_id = ?`, clientId);
    this.sql.exec(`DELETE FROM subscriptions WHERE client_id = ?`, clientId);
    if (hadDeliveryState) this.deleteDeliveryRows(clientId);
  }

  deleteDeliveryState(clientId: string): void {
    if (this.mayHoldDeliveryState().delete(clientId)) this.deleteDeliveryRows(clientId);
  }

  private deleteDeliveryRows(clientId: string): void {
    this.sql.exec(`DELETE FROM outbound WHERE client_id = ?`, clientId);
    this.sql.exec(`DELETE FROM queue WHERE client_id = ?`, clientId);
    this.sql.exec(`DELETE FROM inbound_qos2 WHERE client_id = ?`, clientId);
  }

  // ------------------------------------------------------------ subscriptions

  loadSubscriptions(): SubscriptionRecord[] {
    return this.sql.exec(`SELECT * FROM subscriptions`).toArray().map((r) => ({
      clientId: r.client_id as string,
      filter: r.filter as string,
      qos: r.qos as 0 | 1 | 2,
      noLocal: r.no_local === 1,
      retainAsPublished: r.retain_as_published === 1,
      retainHandling: r.retain_handling as 0 | 1 | 2,
      subscriptionId: (r.subscription_id as number | null) ?? null,
      createdAt: r.created_at as number,
    }));
  }

  saveSubscription(s: SubscriptionRecord): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO subscriptions (client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      s.clientId,
      s.filter,
      s.qos,
      s.noLocal ? 1 : 0,
      s.retainAsPublished ? 1 : 0,
      s.retainHandling,
      s.subscriptionId,
      s.createdAt,
    );
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.sql.exec(`DELETE FROM subscriptions WHERE client_id = ? AND filter = ?`, clientId, filter);
  }

  // ------------------------------------------------------------ in flight

  loadOutbound(clientId: string): OutboundRecord[] {
    return this.sql
      .exec(`SELECT * FROM outbound WHERE client_id = ? ORDER BY seq`, clientId)
      .toArray()
      .map((r) => ({
        clientId,
        packetId: r.packet_id as number,
        state: r.state as 'publish' | 'pubrel',
        seq: r.seq as number,
        delivery: rowToDelivery(r),
      }));
  }

  saveOutbound(r: OutboundRecord): void {
    const d = r.delivery;
    this.mayHoldDeliveryState().add(r.clientId);
    this.sql.exec(
      `INSERT OR REPLACE INTO outbound (client_id, packet_id, state, seq, qos, retain, subscription_ids, topic, payload, message)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      r.clientId,
      r.packetId,
      r.state,
      r.seq,
      ...deliveryColumns(d),
    );
  }

  deleteOutbound(clientId: string, packetId: number): void {
    this.sql.exec(`DELETE FROM outbound WHERE client_id = ? AND packet_id = ?`, clientId, packetId);
  }

  // ------------------------------------------------------------ queue

  enqueue(clientId: string, d: Delivery): number {
    this.mayHoldDeliveryState().add(clientId);
    const row = this.sql
      .exec(
        `INSERT INTO queue (client_id, qos, retain, subscription_ids, topic, payload, message, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
        clientId,
        ...deliveryColumns(d),
        queuedSize(d),
      )
      .one();
    return row.seq as number;
  }

  peekQueue(clientId: string, limit: number): QueuedRecord[] {
    return this.sql
      .exec(`SELECT * FROM queue WHERE client_id = ? ORDER BY seq LIMIT ?`, clientId, limit)
      .toArray()
      .map((r) => ({ clientId, seq: r.seq as number, delivery: rowToDelivery(r) }));
  }

  deleteQueued(clientId: string, seq: number): void {
    this.sql.exec(`DELETE FROM queue WHERE client_id = ? AND seq = ?`, clientId, seq);
  }

  queueLength(clientId: string): number {
    return this.sql.exec(`SELECT COUNT(*) AS n FROM queue WHERE client_id = ?`, clientId).one().n as number;
  }

  queueBytes(clientId: string): number {
    return this.sql.exec(`SELECT COALESCE(SUM(bytes), 0) AS n FROM queue WHERE client_id = ?`, clientId).one().n as number;
  }

  // ------------------------------------------------------------ QoS 2 receive

  loadInboundQos2(clientId: string): number[] {
    return this.sql.exec(`SELECT packet_id FROM inbound_qos2 WHERE client_id = ?`, clientId).toArray().map((r) => r.packet_id as number);
  }

  saveInboundQos2(clientId: string, packetId: number): void {
    this.mayHoldDeliveryState().add(clientId);
    this.sql.exec(`INSERT OR REPLACE INTO inbound_qos2 (client_id, packet_id) VALUES (?, ?)`, clientId, packetId);
  }

  deleteInboundQos2(clientId: string, packetId: number): void {
    this.sql.exec(`DELETE FROM inbound_qos2 WHERE client_id = ? AND packet_id = ?`, clientId, packetId);
  }

  // ------------------------------------------------------------ retained

  loadRetained(): BrokerMessage[] {
    return this.sql
      .exec(`SELECT * FROM retained`)
      .toArray()
      .map((r) => decodeMessage(r.topic as string, r.payload as ArrayBuffer, r.message as string));
  }

  putRetained(m: BrokerMessage): void {
    this.sql.exec(`INSERT OR REPLACE INTO retained (topic, payload, message) VALUES (?, ?, ?)`, m.topic, toArrayBuffer(m.payload), encodeMessageMeta(m));
  }

  deleteRetained(topic: string): void {
    this.sql.exec(`DELETE FROM retained WHERE topic = ?`, topic);
  }

  // ------------------------------------------------------------ topic aliases

  loadTopicAliases(connectionId: string): Map<number, string> {
    const out = new Map<number, string>();
    for (const r of this.sql.exec(`SELECT alias, topic FROM topic_aliases WHERE connection_id = ?`, connectionId)) {
      out.set(r.alias as number, r.topic as string);
    }
    return out;
  }

  saveTopicAlias(connectionId: string, alias: number, topic: string): void {
    this.sql.exec(`INSERT OR REPLACE INTO topic_aliases (connection_id, alias, topic) VALUES (?, ?, ?)`, connectionId, alias, topic);
  }

  deleteTopicAliases(connectionId: string): void {
    this.sql.exec(`DELETE FROM topic_aliases WHERE connection_id = ?`, connectionId);
  }

  keepTopicAliasesOf(connectionIds: { has(connectionId: string): boolean }): void {
    // Few connections use aliases, so reading their ids beats naming every live connection in one statement.
    const stored = this.sql.exec(`SELECT DISTINCT connection_id FROM topic_aliases`).toArray();
    for (const row of stored) if (!connectionIds.has(row.connection_id as string)) this.deleteTopicAliases(row.connection_id as string);
  }

  // ------------------------------------------------------------ counters

  loadCounters(): BrokerCounters | null {
    const row = this.sql.exec(`SELECT value FROM counters WHERE id = 1`).toArray()[0];
    return row ? (JSON.parse(row.value as string) as BrokerCounters) : null;
  }

  saveCounters(counters: BrokerCounters): void {
    this.sql.exec(`INSERT OR REPLACE INTO counters (id, value) VALUES (1, ?)`, JSON.stringify(counters));
  }
}

// ------------------------------------------------------------ encoding helpers

export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  // A view may cover part of a larger buffer: bind exactly its bytes.
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unbase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

interface MessageMeta {
  qos: 0 | 1 | 2;
  retain: boolean;
  expiresAt: number | null;
  origin: string | null;
  createdAt: number;
  properties: Omit<MessageProperties, 'correlationData'> & { correlationData?: string };
}

export function encodeMessageMeta(m: BrokerMessage): string {
  const { correlationData, ...rest } = m.properties;
  const meta: MessageMeta = {
    qos: m.qos,
    retain: m.retain,
    expiresAt: m.expiresAt,
    origin: m.origin,
    createdAt: m.createdAt,
    properties: correlationData ? { ...rest, correlationData: base64(correlationData) } : rest,
  };
  return JSON.stringify(meta);
}

export function decodeMessage(topic: string, payload: ArrayBuffer, metaJson: string): BrokerMessage {
  const meta = JSON.parse(metaJson) as MessageMeta;
  const { correlationData, ...rest } = meta.properties;
  const properties: MessageProperties = correlationData !== undefined ? { ...rest, correlationData: unbase64(correlationData) } : rest;
  return {
    topic,
    payload: new Uint8Array(payload),
    qos: meta.qos,
    retain: meta.retain,
    properties,
    expiresAt: meta.expiresAt,
    origin: meta.origin,
    createdAt: meta.createdAt,
  };
}

/** Column values for (qos, retain, subscription_ids, topic, payload, message), shared by outbound and queue. */
function deliveryColumns(d: Delivery): [number, number, string, string, ArrayBuffer, string] {
  return [d.qos, d.retain ? 1 : 0, JSON.stringify(d.subscriptionIds), d.message.topic, toArrayBuffer(d.message.payload), encodeMessageMeta(d.message)];
}

function rowToDelivery(r: Record<string, SqlStorageValue>): Delivery {
  return {
    message: decodeMessage(r.topic as string, r.payload as ArrayBuffer, r.message as string),
    qos: r.qos as 0 | 1 | 2,
    retain: r.retain === 1,
    subscriptionIds: JSON.parse(r.subscription_ids as string) as number[],
  };
}

function encodeWill(will: WillRecord): string {
  const m = will.message;
  return JSON.stringify({ delaySeconds: will.delaySeconds, expirySeconds: will.expirySeconds, topic: m.topic, payload: base64(m.payload), meta: encodeMessageMeta(m) });
}

function decodeWill(json: string): WillRecord {
  const w = JSON.parse(json) as { delaySeconds: number; expirySeconds: number | null; topic: string; payload: string; meta: string };
  const payload = unbase64(w.payload);
  return { delaySeconds: w.delaySeconds, expirySeconds: w.expirySeconds, message: decodeMessage(w.topic, toArrayBuffer(payload), w.meta) };
}
