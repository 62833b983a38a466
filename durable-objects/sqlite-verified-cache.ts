import type { AuthenticatedIdentity } from '../auth/provider';
import type { VerifiedCache } from '../auth/verified-cache';

/**
 * The verification cache in Durable Object SQLite, so it survives the restart
 * that every deploy causes, which is exactly when every device reconnects.
 * An entry stays valid while its client is connected and for the TTL after it
 * was last seen; keys are HMACs under a secret (AUTH_CACHE_SECRET, or a random
 * one kept in this object's storage), never passwords.
 */
export class SqliteVerifiedCache implements VerifiedCache {
  private secretBytes: Uint8Array | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly configuredSecret: string | null,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS auth_cache (
      key TEXT PRIMARY KEY,
      client_id TEXT NOT NULL,
      identity TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      connected INTEGER NOT NULL DEFAULT 0
    )`);
    sql.exec(`CREATE INDEX IF NOT EXISTS auth_cache_client ON auth_cache (client_id)`);
    // deleteExpired reads only the rows it deletes, however many clients are connected.
    sql.exec(`CREATE INDEX IF NOT EXISTS auth_cache_expiry ON auth_cache (connected, expires_at)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS auth_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
  }

  /** Clients that were connected when the previous instance went away were seen just now. */
  restartedAt(now: number, ttlMs: number): void {
    this.sql.exec(`UPDATE auth_cache SET connected = 0, expires_at = MAX(expires_at, ?) WHERE connected = 1`, now + ttlMs);
    this.sql.exec(`DELETE FROM auth_cache WHERE expires_at <= ?`, now);
  }

  secret(): Uint8Array {
    if (this.secretBytes) return this.secretBytes;
    if (this.configuredSecret && this.configuredSecret.length >= 16) {
      this.secretBytes = new TextEncoder().encode(this.configuredSecret);
      return this.secretBytes;
    }
    const row = this.sql.exec(`SELECT value FROM auth_meta WHERE key = 'cache_secret'`).toArray()[0];
    if (row) {
      this.secretBytes = Uint8Array.from(atob(String(row.value)), (c) => c.charCodeAt(0));
    } else {
      this.secretBytes = crypto.getRandomValues(new Uint8Array(32));
      this.sql.exec(`INSERT INTO auth_meta (key, value) VALUES ('cache_secret', ?)`, btoa(String.fromCharCode(...this.secretBytes)));
    }
    return this.secretBytes;
  }

  get(key: string, now: number): AuthenticatedIdentity | null {
    const row = this.sql.exec(`SELECT identity, expires_at, connected FROM auth_cache WHERE key = ?`, key).toArray()[0];
    if (!row) return null;
    if (Number(row.connected) !== 1 && Number(row.expires_at) <= now) {
      this.sql.exec(`DELETE FROM auth_cache WHERE key = ?`, key);
      return null;
    }
    this.sql.exec(`UPDATE auth_cache SET connected = 1 WHERE key = ?`, key);
    return JSON.parse(String(row.identity)) as AuthenticatedIdentity;
  }

  set(key: string, clientId: string, identity: AuthenticatedIdentity, ttlMs: number, now: number): void {
    if (ttlMs <= 0) return;
    this.sql.exec(
      `INSERT INTO auth_cache (key, client_id, identity, expires_at, connected) VALUES (?, ?, ?, ?, 1)
       ON CONFLICT (key) DO UPDATE SET identity = excluded.identity, expires_at = excluded.expires_at, connected = 1`,
      key,
      clientId,
      JSON.stringify(identity),
      now + ttlMs,
    );
  }

  touchClient(clientId: string, now: number, ttlMs: number): void {
    this.sql.exec(`UPDATE auth_cache SET connected = 0, expires_at = MAX(expires_at, ?) WHERE client_id = ?`, now + ttlMs, clientId);
  }

  /**
   * Entries of clients that are gone, once expired. Without this an entry
   * goes only when the same credentials come back or the object starts
   * again, so a shard that stays up would keep one row for every client id
   * that ever authenticated.
   */
  deleteExpired(now: number): void {
    this.sql.exec(`DELETE FROM auth_cache WHERE connected = 0 AND expires_at <= ?`, now);
  }

  clear(): void {
    this.sql.exec(`DELETE FROM auth_cache`);
  }

  size(): number {
    return Number(this.sql.exec(`SELECT COUNT(*) AS n FROM auth_cache`).one().n);
  }
}
