import { desc, eq, gte, lte } from 'drizzle-orm';
import { auditLog } from '../schema';
import type { Db, Statement } from './db';
import { allOf, contains, listPage, type Page } from './paging';

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
  const t = auditLog;
  const where = allOf([
    q.actor ? contains(t.actor, q.actor) : undefined,
    q.resource ? eq(t.resource, q.resource) : undefined,
    q.action ? eq(t.action, q.action) : undefined,
    q.resourceId ? eq(t.resourceId, q.resourceId) : undefined,
    q.from ? gte(t.at, q.from) : undefined,
    q.to ? lte(t.at, q.to) : undefined,
  ]);
  return listPage(
    db,
    t,
    { where, orderBy: [desc(t.at), desc(t.id)], page: q.page, pageSize: q.pageSize },
    (r) => ({
      id: r.id,
      at: r.at.toISOString(),
      actor: r.actor,
      action: r.action,
      resource: r.resource,
      resourceId: r.resourceId,
      detail: r.detail ?? null,
    }),
  );
}
