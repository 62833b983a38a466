import { asc, eq, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { toAclRuleRecord } from '../../auth/acl/load-snapshot';
import type { AclRuleSort } from '../../worker/admin/contract/security';
import { aclRules } from '../schema';
import type { AuditEntry } from './audit-log';
import { runConfigChange } from './config-version';
import type { Db } from './db';
import { allOf, contains, listPage, sortedBy, type Page } from './paging';

export type AclRuleRow = typeof aclRules.$inferSelect;

export interface AclRuleValues {
  kind: AclRuleRow['kind'];
  principalType: AclRuleRow['principalType'];
  username: string | null;
  access: AclRuleRow['access'];
  topic: string;
  position: number;
  comment: string | null;
}

export interface AclRuleView extends AclRuleValues {
  id: string;
  createdAt: string;
  updatedAt: string;
}

export function toAclRuleView(r: AclRuleRow): AclRuleView {
  return {
    ...toAclRuleRecord(r),
    comment: r.comment,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export interface AclRuleQuery {
  username?: string;
  principalType?: AclRuleRow['principalType'];
  kind?: AclRuleRow['kind'];
  topic?: string;
  sort?: AclRuleSort;
  order?: 'asc' | 'desc';
  page: number;
  pageSize: number;
}

const t = aclRules;
const SORT_COLUMNS: Record<AclRuleSort, AnyColumn | SQL> = {
  position: t.position,
  kind: t.kind,
  // Whom the rule applies to, as the dashboard words it.
  principal: sql`CASE ${t.principalType} WHEN 'user' THEN 'user ' || coalesce(${t.username}, '') WHEN 'anonymous' THEN 'anonymous' ELSE 'everyone' END`,
  access: t.access,
  topic: t.topic,
  comment: t.comment,
};

/** In evaluation order (ascending position) unless sorted otherwise. */
export async function listAclRules(db: Db, q: AclRuleQuery): Promise<Page<AclRuleView>> {
  const where = allOf([
    q.username ? contains(t.username, q.username) : undefined,
    q.principalType ? eq(t.principalType, q.principalType) : undefined,
    q.kind ? eq(t.kind, q.kind) : undefined,
    q.topic ? contains(t.topic, q.topic) : undefined,
  ]);
  // Rules at one position are evaluated in creation order, so that is the tie-break of every sort.
  const [first, ...rest] = sortedBy(SORT_COLUMNS, q.sort ?? 'position', q.order ?? 'asc', t.id);
  return listPage(db, t, { where, orderBy: [first, asc(t.createdAt), ...rest], page: q.page, pageSize: q.pageSize }, toAclRuleView);
}

export async function getAclRule(db: Db, id: string): Promise<AclRuleRow | null> {
  return (await db.select().from(aclRules).where(eq(aclRules.id, id)).get()) ?? null;
}

/** A new rule without a position goes last. */
export async function nextAclPosition(db: Db): Promise<number> {
  const row = await db.select({ max: sql<number | null>`max(${aclRules.position})` }).from(aclRules).get();
  return row?.max === null || row?.max === undefined ? 10 : row.max + 10;
}

export async function insertAclRule(db: Db, values: AclRuleValues, audit: AuditEntry | null, now = new Date()): Promise<AclRuleRow> {
  const row: AclRuleRow = { id: crypto.randomUUID(), ...values, createdAt: now, updatedAt: now };
  await runConfigChange(db, [db.insert(aclRules).values(row)], audit ? { ...audit, resourceId: row.id } : null, now);
  return row;
}

export async function updateAclRule(db: Db, id: string, values: AclRuleValues, audit: AuditEntry | null, now = new Date()): Promise<AclRuleRow | null> {
  const existing = await getAclRule(db, id);
  if (!existing) return null;
  await runConfigChange(db, [db.update(aclRules).set({ ...values, updatedAt: now }).where(eq(aclRules.id, id))], audit, now);
  return { ...existing, ...values, updatedAt: now };
}

export async function deleteAclRule(db: Db, id: string, audit: AuditEntry | null, now = new Date()): Promise<boolean> {
  const existing = await getAclRule(db, id);
  if (!existing) return false;
  await runConfigChange(db, [db.delete(aclRules).where(eq(aclRules.id, id))], audit, now);
  return true;
}

export async function allAclRules(db: Db): Promise<AclRuleRow[]> {
  return db.select().from(aclRules).orderBy(asc(aclRules.position), asc(aclRules.createdAt), asc(aclRules.id));
}
