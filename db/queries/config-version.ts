import { sql } from 'drizzle-orm';
import type { Db, Statement } from './db';
import { configVersion } from '../schema';
import { auditInsert, type AuditEntry } from './audit-log';


/**
 * Moves config_version forward. Brokers compare it with the version of their
 * cached snapshot, so every change that affects authentication or ACLs must
 * include this statement in its own batch (then the change and the bump land
 * together or not at all).
 */
export function bumpConfigVersion(db: Db, now: Date): Statement {
  return db
    .insert(configVersion)
    .values({ id: 1, version: 1, updatedAt: now })
    .onConflictDoUpdate({ target: configVersion.id, set: { version: sql`${configVersion.version} + 1`, updatedAt: now } });
}

/** Runs statements as one D1 batch (a transaction), with an audit entry when given. */
export async function runBatch(db: Db, statements: Statement[], audit: AuditEntry | null, now: Date): Promise<void> {
  const all = audit ? [...statements, auditInsert(db, audit, now)] : statements;
  if (all.length === 0) return;
  await db.batch(all as [Statement, ...Statement[]]);
}

/** A configuration change: the statements, the version bump and the audit entry in one batch. */
export async function runConfigChange(db: Db, statements: Statement[], audit: AuditEntry | null, now: Date): Promise<void> {
  await runBatch(db, [...statements, bumpConfigVersion(db, now)], audit, now);
}
