import { and, desc, eq, gte, lte, sql, type SQL } from 'drizzle-orm';
import { auditLog } from '../schema';
import type { Db, Statement } from './config-version';
import { contains, pageOf, type Page } from './paging';

/** Who changed what. `detail` never holds secrets (passwords, keys, hashes). */
export interface AuditEntry {
  actor: string;
  action: string;
  resource: string;
  resourceId?: string | null;
  detail?: Record<string, unknown> | null;
}

export function auditInsert(db: Db, entry: AuditEntry, now: Date): Statement {
  return db.insert(auditLog).values({
    at: now,
    actor: entry.actor.slice(0, 256),
    action: entry.action.slice(0, 64),
    resource: entry.resource.slice(0, 64),
    resourceId: entry.resourceId?.slice(0, 512) ?? null,
    detail: entry.detail ?? null,
  });
}

export interface AuditQuery {
  actor?: string;
  resource?: string;
  action?: string;
  resourceId?: string;
  from?: Date;
  to?: Date;
  page: number;
  pageSize: number;
}

export interface AuditView {
  id: number;
  at: string;
  actor: string;
  action: string;
  resource: string;
  resourceId: string | null;
  detail: Record<string, unknown> | null;
}

/** Newest first. */
export async function listAuditLog(db: Db, q: AuditQuery): Promise<Page<AuditView>> {
  const conditions: SQL[] = [];
  if (q.actor) conditions.push(contains(auditLog.actor, q.actor));
  if (q.resource) conditions.push(eq(auditLog.resource, q.resource));
  if (q.action) conditions.push(eq(auditLog.action, q.action));
  if (q.resourceId) conditions.push(eq(auditLog.resourceId, q.resourceId));
  if (q.from) conditions.push(gte(auditLog.at, q.from));
  if (q.to) conditions.push(lte(auditLog.at, q.to));
  const where = conditions.length > 0 ? and(...conditions) : undefined;
  const [count, rows] = await db.batch([
    db.select({ n: sql<number>`count(*)` }).from(auditLog).where(where),
    db
      .select()
      .from(auditLog)
      .where(where)
      .orderBy(desc(auditLog.at), desc(auditLog.id))
      .limit(q.pageSize)
      .offset(q.page * q.pageSize),
  ]);
  return pageOf(
    rows.map((r) => ({
      id: r.id,
      at: r.at.toISOString(),
      actor: r.actor,
      action: r.action,
      resource: r.resource,
      resourceId: r.resourceId,
      detail: r.detail ?? null,
    })),
    count[0]?.n ?? 0,
    q.page,
    q.pageSize,
  );
}
