import type { Db } from '../../db/queries/db';
import type { AuditEntry } from '../../db/queries/audit-log';
import type { Env } from '../env';

export type Role = 'admin' | 'viewer';

/** Who is calling: a signed-in admin user (JWT) or an API key. */
export interface Caller {
  kind: 'user' | 'api-key';
  id: string;
  name: string;
  role: Role;
}

export interface AdminEnv {
  Bindings: Env;
  Variables: {
    db: Db;
    caller: Caller;
    /**
     * Tells the broker the security configuration in D1 changed. The Worker
     * tells every shard (broker.ts); the CLI's local API cannot reach a
     * broker, which then notices the change by itself.
     */
    configChanged: () => Promise<void>;
  };
}

/** The audit log names users by username and keys by name, never by secret. */
export function actorOf(caller: Caller): string {
  return caller.kind === 'user' ? `user:${caller.name}` : `api-key:${caller.name}`;
}

export function auditFor(caller: Caller, action: string, resource: string, resourceId: string | null = null, detail: Record<string, unknown> | null = null): AuditEntry {
  return { actor: actorOf(caller), action, resource, resourceId, detail };
}
