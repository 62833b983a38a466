import { MAX_SHARD_COUNT } from '../worker/gateway/shard-count';

/** A shard's place in the cluster: it is shard `index` of `count`. */
export interface ShardIdentity {
  index: number;
  count: number;
}

/** Is this a place a shard can have? Anything else is ignored, never stored. */
export function isShardIdentity(index: unknown, count: unknown): boolean {
  return (
    typeof index === 'number' &&
    typeof count === 'number' &&
    Number.isInteger(index) &&
    Number.isInteger(count) &&
    count >= 1 &&
    count <= MAX_SHARD_COUNT &&
    index >= 0 &&
    index < count
  );
}

/**
 * What a shard knows of its own place in the cluster. A Durable Object is not
 * told the name it was created by, so the edge says it on every connection it
 * routes (the trusted context's shardIndex / shardCount) and on the admin
 * event stream; the last word is kept in SQLite so a shard that wakes from
 * hibernation, or is asked by another shard before any client arrives again,
 * still knows. Until told, a shard knows nothing, and callers treat that as
 * the single shard 0 of 1, which is what every shard was before clusters.
 */
export class ShardIdentityStore {
  private known: ShardIdentity | null;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS shard_identity (id INTEGER PRIMARY KEY CHECK (id = 1), shard_index INTEGER NOT NULL, shard_count INTEGER NOT NULL)`);
    const row = sql.exec(`SELECT shard_index, shard_count FROM shard_identity WHERE id = 1`).toArray()[0];
    this.known = row ? { index: row.shard_index as number, count: row.shard_count as number } : null;
  }

  /** Null until the edge has said it. */
  current(): ShardIdentity | null {
    return this.known;
  }

  /** Index 0 of 1 until the edge has said otherwise. */
  currentOrSingle(): ShardIdentity {
    return this.known ?? { index: 0, count: 1 };
  }

  /** Keeps what the edge said; written only when it changed (BROKER_SHARDS changed, or first time). */
  learn(index: unknown, count: unknown): void {
    if (!isShardIdentity(index, count)) return;
    const i = index as number;
    const n = count as number;
    if (this.known?.index === i && this.known.count === n) return;
    this.sql.exec(`INSERT OR REPLACE INTO shard_identity (id, shard_index, shard_count) VALUES (1, ?, ?)`, i, n);
    this.known = { index: i, count: n };
  }
}
