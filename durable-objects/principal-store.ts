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

  /** One statement for any number of client ids (a JSON array bound as one value). */
  deleteAll(clientIds: string[]): void {
    if (clientIds.length === 0) return;
    this.sql.exec(`DELETE FROM principals WHERE client_id IN (SELECT value FROM json_each(?))`, JSON.stringify(clientIds));
  }

  /** Principals of sessions that still exist; the rest are dropped. */
  loadFor(clientIds: Set<string>): Array<{ clientId: string; identity: AuthenticatedIdentity }> {
    const out: Array<{ clientId: string; identity: AuthenticatedIdentity }> = [];
    const stale: string[] = [];
    for (const row of this.sql.exec(`SELECT client_id, identity FROM principals`)) {
      const clientId = String(row.client_id);
      if (!clientIds.has(clientId)) {
        stale.push(clientId);
        continue;
      }
      out.push({ clientId, identity: JSON.parse(String(row.identity)) as AuthenticatedIdentity });
    }
    this.deleteAll(stale);
    return out;
  }
}

/** How many ended sessions' principals may wait for the alarm before a close forgets them at once. */
export const ENDED_PRINCIPALS_SLACK = 1024;

/**
 * The principals of one shard's sessions: bound in the authorizer when a
 * CONNECT authenticates, saved with the session's row, forgotten when the
 * session has ended.
 */
export class SessionPrincipals {
  /** Client ids whose CONNECT authenticated but is not answered yet, with how many such CONNECTs each has. */
  private readonly unsettled = new Map<string, number>();
  /**
   * Identities bound to client ids whose session has no row yet: saved when
   * it is written (sessionStored), in the same event, so a principal is in
   * SQLite whenever its session is. A clean session without a will is
   * written only before the shard may hibernate (BrokerEngine.saveOpenedSession),
   * and most short connections end before that, its principal unwritten too.
   */
  private readonly unsaved = new Map<string, AuthenticatedIdentity>();

  constructor(
    private readonly authorizer: AclAuthorizer,
    private readonly store: PrincipalStore,
    private readonly clock: Clock,
    /** Whether the client id's current session has its row (Session.rowStored); false when it has no session. */
    private readonly sessionRowStored: (clientId: string) => boolean = () => true,
  ) {}

  /**
   * ShardSecurity.onAccepted for topic ACLs: binds the identity a CONNECT
   * (or a re-authentication) authenticated as, and saves it now if the
   * client's session has its row, or else with the row; then, told the
   * CONNECT's fate, keeps it or puts back (in memory and in storage) the
   * binding it replaced. The binding's token goes with the decision, for the
   * session it opens.
   */
  readonly onAccepted = (clientId: string, identity: AuthenticatedIdentity) => {
    const binding = this.authorizer.bindPrincipal(clientId, identity);
    this.keep(clientId, identity);
    this.unsettled.set(clientId, (this.unsettled.get(clientId) ?? 0) + 1);
    const settle = (accepted: boolean): void => {
      const left = (this.unsettled.get(clientId) ?? 1) - 1;
      if (left > 0) this.unsettled.set(clientId, left);
      else this.unsettled.delete(clientId);
      if (accepted) return binding.keep();
      binding.undo();
      // What is bound now decides: another CONNECT for the id may have authenticated meanwhile.
      this.keep(clientId, this.authorizer.boundIdentity(clientId));
    };
    return { settle, binding: binding.binding };
  };

  /** The client id's identity (null: none) where it belongs now: in SQLite if its session has its row, else waiting for it. */
  private keep(clientId: string, identity: AuthenticatedIdentity | null): void {
    if (!this.sessionRowStored(clientId)) {
      if (identity) this.unsaved.set(clientId, identity);
      else this.unsaved.delete(clientId);
      return;
    }
    if (identity) this.store.save(clientId, identity, this.clock.now());
    else this.store.delete(clientId);
  }

  /** BrokerEngineDeps.sessionStored: the session's row was just written, and its principal goes with it. */
  readonly sessionStored = (clientId: string): void => {
    const identity = this.unsaved.get(clientId);
    if (identity === undefined) return;
    this.unsaved.delete(clientId);
    this.store.save(clientId, identity, this.clock.now());
  };

  /**
   * A principal lives as long as its session: once the session has ended,
   * its binding and its row go too. Otherwise every client id a shard ever
   * accepted would stay bound in memory and in SQLite until the object
   * restarts, which a fleet of clean sessions with fresh client ids (MQTT 5
   * assigned ids, clients' random ids) turns into growth without bound.
   * A CONNECT still being answered keeps its binding: its session opens next.
   *
   * Nothing is scanned until more than `allowance` are bound beyond the live
   * sessions and the CONNECTs being answered: the shard's alarm allows none,
   * a close ENDED_PRINCIPALS_SLACK, so a close pays for the scan once per that
   * many ended sessions.
   */
  forgetEnded(sessions: { has(clientId: string): boolean; readonly size: number }, allowance: number): void {
    if (this.authorizer.boundCount <= sessions.size + this.unsettled.size + allowance) return;
    const gone = this.authorizer.unbindUnless((id) => sessions.has(id) || this.unsettled.has(id));
    for (const clientId of gone) this.unsaved.delete(clientId);
    this.store.deleteAll(gone);
  }
}
