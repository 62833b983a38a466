import type { ClusterStore, OutboxEntry } from '../../protocol/cluster/cluster-store';
import type { ClusterEntry } from '../../protocol/cluster/messages';
import { decodeMessage, encodeMessageMeta, toArrayBuffer } from '../sqlite-session-store';

/**
 * ClusterStore on the shard's Durable Object SQLite, beside the sessions: an
 * outbox row is written in the same synchronous step as the rest of a
 * PUBLISH's effects, so the platform's output gate holds its PUBACK until
 * both are durable. Its own tables, created idempotently: the session store's
 * schema versions stay about sessions.
 */
export class SqliteClusterStore implements ClusterStore {
  /** Last sequence number per link; its row is written once per confirmed batch, not per entry. */
  private readonly appended = new Map<number, number>();

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS cluster_routes (
        shard INTEGER NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (shard, key)
      );
      CREATE TABLE IF NOT EXISTS cluster_outbox (
        dest INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB,
        meta TEXT NOT NULL,
        PRIMARY KEY (dest, seq)
      );
      -- The highest sequence number confirmed per link, so numbers are never reused once the outbox is empty.
      CREATE TABLE IF NOT EXISTS cluster_links (
        dest INTEGER PRIMARY KEY,
        last_appended INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS cluster_applied (
        origin INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL
      );
    `);
  }

  loadRoutes(): Array<{ shard: number; key: string }> {
    return this.sql.exec(`SELECT shard, key FROM cluster_routes`).toArray().map((r) => ({ shard: Number(r.shard), key: String(r.key) }));
  }
  addRoute(shard: number, key: string): void {
    this.sql.exec(`INSERT OR IGNORE INTO cluster_routes (shard, key) VALUES (?, ?)`, shard, key);
  }
  removeRoute(shard: number, key: string): void {
    this.sql.exec(`DELETE FROM cluster_routes WHERE shard = ? AND key = ?`, shard, key);
  }

  appendOutbox(dest: number, entry: ClusterEntry): number {
    const seq = this.lastAppended(dest) + 1;
    this.appended.set(dest, seq);
    if (entry.kind === 'route') {
      this.sql.exec(`INSERT INTO cluster_outbox (dest, seq, kind, topic, payload, meta) VALUES (?, ?, ?, ?, NULL, ?)`, dest, seq, 'route', entry.key, JSON.stringify({ add: entry.add }));
    } else {
      const meta = JSON.stringify({
        direct: entry.direct,
        groups: entry.groups,
        retain: entry.retain,
        passedOver: entry.passedOver,
        passedOverByGroup: entry.passedOverByGroup,
        message: encodeMessageMeta(entry.message),
      });
      this.sql.exec(
        `INSERT INTO cluster_outbox (dest, seq, kind, topic, payload, meta) VALUES (?, ?, ?, ?, ?, ?)`,
        dest,
        seq,
        'publish',
        entry.message.topic,
        toArrayBuffer(entry.message.payload),
        meta,
      );
    }
    return seq;
  }

  peekOutbox(dest: number, afterSeq: number, limit: number): OutboxEntry[] {
    return this.sql
      .exec(`SELECT seq, kind, topic, payload, meta FROM cluster_outbox WHERE dest = ? AND seq > ? ORDER BY seq LIMIT ?`, dest, afterSeq, limit)
      .toArray()
      .map((r) => ({ seq: Number(r.seq), entry: rowToEntry(r) }));
  }

  deleteOutboxThrough(dest: number, seq: number): void {
    this.sql.exec(`DELETE FROM cluster_outbox WHERE dest = ? AND seq <= ?`, dest, seq);
    this.sql.exec(
      `INSERT INTO cluster_links (dest, last_appended) VALUES (?, ?) ON CONFLICT (dest) DO UPDATE SET last_appended = MAX(last_appended, excluded.last_appended)`,
      dest,
      seq,
    );
  }

  loadLinks(): Array<{ dest: number; lastAppended: number; oldestUnconfirmed: number | null }> {
    const dests = this.sql
      .exec(`SELECT dest FROM cluster_links UNION SELECT DISTINCT dest FROM cluster_outbox`)
      .toArray()
      .map((r) => Number(r.dest));
    return dests.map((dest) => {
      const row = this.sql.exec(`SELECT MIN(seq) AS oldest FROM cluster_outbox WHERE dest = ?`, dest).toArray()[0];
      return { dest, lastAppended: this.lastAppended(dest), oldestUnconfirmed: row?.oldest == null ? null : Number(row.oldest) };
    });
  }

  /** The confirmed mark, or the newest entry still in the outbox, whichever is higher. */
  private lastAppended(dest: number): number {
    const cached = this.appended.get(dest);
    if (cached !== undefined) return cached;
    const row = this.sql
      .exec(
        `SELECT MAX(COALESCE((SELECT last_appended FROM cluster_links WHERE dest = ?1), 0), COALESCE((SELECT MAX(seq) FROM cluster_outbox WHERE dest = ?1), 0)) AS last`,
        dest,
      )
      .toArray()[0];
    const last = Number(row?.last ?? 0);
    this.appended.set(dest, last);
    return last;
  }

  lastApplied(origin: number): number {
    const row = this.sql.exec(`SELECT seq FROM cluster_applied WHERE origin = ?`, origin).toArray()[0];
    return row ? Number(row.seq) : 0;
  }
  setLastApplied(origin: number, seq: number): void {
    this.sql.exec(`INSERT OR REPLACE INTO cluster_applied (origin, seq) VALUES (?, ?)`, origin, seq);
  }
}

function rowToEntry(r: Record<string, SqlStorageValue>): ClusterEntry {
  const meta = JSON.parse(r.meta as string) as {
    add?: boolean;
    direct?: boolean;
    groups?: string[];
    retain?: boolean;
    passedOver?: number[];
    passedOverByGroup?: Record<string, number[]>;
    message?: string;
  };
  if (r.kind === 'route') return { kind: 'route', key: r.topic as string, add: Boolean(meta.add) };
  return {
    kind: 'publish',
    message: decodeMessage(r.topic as string, r.payload as ArrayBuffer, meta.message!),
    direct: Boolean(meta.direct),
    groups: meta.groups ?? [],
    retain: Boolean(meta.retain),
    passedOver: meta.passedOver ?? [],
    // Rows written by older code have no per-group lists: passedOver then stands for every group.
    ...(meta.passedOverByGroup ? { passedOverByGroup: meta.passedOverByGroup } : {}),
  };
}
