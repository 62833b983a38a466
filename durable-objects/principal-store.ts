import type { AclAuthorizer } from '../auth/acl/acl-authorizer';
import type { AuthenticatedIdentity } from '../auth/provider';
import type { Clock } from '../protocol/ports';

/**
 * Who each session authenticated as, in Durable Object SQLite. Topic ACLs
 * need the identity (provider, credential, CN, rules from a JWT) for every
 * delivery, including to offline persistent sessions after the object was
 * evicted, and the socket attachment is too small to carry it.
 */
export class PrincipalStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS principals (client_id TEXT PRIMARY KEY, identity TEXT NOT NULL, updated_at INTEGER NOT NULL)`);
  }

  save(clientId: string, identity: AuthenticatedIdentity, now: number): void {
    this.sql.exec(
      `INSERT INTO principals (client_id, identity, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (client_id) DO UPDATE SET identity = excluded.identity, updated_at = excluded.updated_at`,
      clientId,
      JSON.stringify(identity),
      now,
    );
  }

  delete(clientId: string): void {
    this.sql.exec(`DELETE FROM principals WHERE client_id = ?`, clientId);
  }

  /** Principals of sessions that still exist; the rest are dropped. */
  loadFor(clientIds: Set<string>): Array<{ clientId: string; identity: AuthenticatedIdentity }> {
    const out: Array<{ clientId: string; identity: AuthenticatedIdentity }> = [];
    for (const row of this.sql.exec(`SELECT client_id, identity FROM principals`)) {
      const clientId = String(row.client_id);
      if (!clientIds.has(clientId)) {
        this.delete(clientId);
        continue;
      }
      out.push({ clientId, identity: JSON.parse(String(row.identity)) as AuthenticatedIdentity });
    }
    return out;
  }
}

/**
 * ShardSecurity.onAccepted for topic ACLs: binds the identity a CONNECT
 * authenticated as and saves it at once, then, told the CONNECT's fate,
 * keeps it or puts back (in memory and in storage) the binding it replaced.
 */
export function bindOnAuthentication(authorizer: AclAuthorizer, store: PrincipalStore, clock: Clock) {
  return (clientId: string, identity: AuthenticatedIdentity) => {
    const binding = authorizer.bindPrincipal(clientId, identity);
    store.save(clientId, identity, clock.now());
    return (accepted: boolean): void => {
      if (accepted) return binding.keep();
      binding.undo();
      const kept = authorizer.boundIdentity(clientId);
      if (kept) store.save(clientId, kept, clock.now());
      else store.delete(clientId);
    };
  };
}
