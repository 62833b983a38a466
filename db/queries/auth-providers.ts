import { asc } from 'drizzle-orm';
import { authProviders } from '../schema';
import type { AuditEntry } from './audit-log';
import { runConfigChange } from './config-version';
import type { Db } from './db';

export type AuthProviderRow = typeof authProviders.$inferSelect;
export type AuthProviderType = AuthProviderRow['type'];

export interface AuthProviderValues {
  type: AuthProviderType;
  enabled: boolean;
  priority: number;
  config: Record<string, unknown>;
}

export async function listAuthProviderRows(db: Db): Promise<AuthProviderRow[]> {
  return db.select().from(authProviders).orderBy(asc(authProviders.priority), asc(authProviders.type));
}

function upsert(db: Db, v: AuthProviderValues, now: Date) {
  return db
    .insert(authProviders)
    .values({ ...v, updatedAt: now })
    .onConflictDoUpdate({ target: authProviders.type, set: { enabled: v.enabled, priority: v.priority, config: v.config, updatedAt: now } });
}

/** Writes every given provider row in one change (a settings edit, a new order, an import). */
export async function upsertAuthProviders(db: Db, values: AuthProviderValues[], audit: AuditEntry | null, now = new Date()): Promise<void> {
  await runConfigChange(
    db,
    values.map((v) => upsert(db, v, now)),
    audit,
    now,
  );
}
