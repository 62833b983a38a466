import type { Db } from '../../db/queries/db';
import type { AuditEntry } from '../../db/queries/audit-log';
import type { Env } from '../env';

export type Role = 'admin' | 'viewer';

/** Who is calling: a signed-in admin user (JWT) or an API key. */
export interface Principal {
  kind: 'user' | 'api-key';
  id: string;
  name: string;
  role: Role;
}

export interface AdminEnv {
  Bindings: Env;
  Variables: {
    db: Db;
    principal: Principal;
  };
}

/** The audit log names users by username and keys by name, never by secret. */
export function actorOf(principal: Principal): string {
  return principal.kind === 'user' ? `user:${principal.name}` : `api-key:${principal.name}`;
}

export function auditFor(principal: Principal, action: string, resource: string, resourceId: string | null = null, detail: Record<string, unknown> | null = null): AuditEntry {
  return { actor: actorOf(principal), action, resource, resourceId, detail };
}
