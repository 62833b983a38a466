import { and, eq, gt, isNotNull, isNull, lte, ne, or, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { blockedClients } from '../schema';
import type { AuditEntry } from './audit-log';
import { runConfigChange } from './config-version';
import type { Db } from './db';
import { allOf, contains, listPage, sortedBy, type Page } from './paging';
import type { BlockedClientSort, BlockedClient as BlockedClientView } from '../../worker/admin/contract/security';

export type BlockedClientRow = typeof blockedClients.$inferSelect;
export type BlockKind = BlockedClientRow['kind'];

export interface BlockValues {
  kind: BlockKind;
  value: string;
  /** clientId only: the IP address or CIDR range the block applies to; null, every IP. */
  ip: string | null;
  description: string | null;
  expiresAt: Date | null;
}

/** What the API shows (worker/admin/contract); status is computed: an entry whose expiresAt has passed no longer blocks anyone. */
export type { BlockedClientView };

export function toBlockView(r: BlockedClientRow, now: Date): BlockedClientView {
  return {
    id: r.id,
    kind: r.kind,
    value: r.value,
    ip: r.ip,
    description: r.description,
    source: r.source,
    expiresAt: r.expiresAt ? r.expiresAt.toISOString() : null,
    createdAt: r.createdAt.toISOString(),
    status: r.expiresAt && r.expiresAt.getTime() <= now.getTime() ? 'expired' : 'active',
  };
}

export interface BlockQuery {
  kind?: BlockKind;
  value?: string;
  source?: 'manual' | 'auto';
  status?: 'active' | 'expired';
  sort?: BlockedClientSort;
  order?: 'asc' | 'desc';
  page: number;
  pageSize: number;
}

/** The sort keys as SQL; status and expiresAt as toBlockView shows them. */
function sortColumns(now: Date): Record<BlockedClientSort, AnyColumn | SQL> {
  const t = blockedClients;
  return {
    kind: t.kind,
    value: t.value,
    status: sql`CASE WHEN ${t.expiresAt} IS NOT NULL AND ${t.expiresAt} <= ${now.getTime()} THEN 'expired' ELSE 'active' END`,
    source: t.source,
    // A block without an end lasts longest: last in ascending order.
    expiresAt: sql`coalesce(${t.expiresAt}, ${Number.MAX_SAFE_INTEGER})`,
    description: t.description,
    createdAt: t.createdAt,
  };
}

export async function listBlockedClients(db: Db, q: BlockQuery, now = new Date()): Promise<Page<BlockedClientView>> {
  const t = blockedClients;
  const where = allOf([
    q.kind ? eq(t.kind, q.kind) : undefined,
    q.value ? contains(t.value, q.value) : undefined,
    q.source ? eq(t.source, q.source) : undefined,
    q.status === 'active' ? or(isNull(t.expiresAt), gt(t.expiresAt, now)) : undefined,
    q.status === 'expired' ? and(isNotNull(t.expiresAt), lte(t.expiresAt, now)) : undefined,
  ]);
  const orderBy = sortedBy(sortColumns(now), q.sort ?? 'createdAt', q.order ?? 'desc', t.id);
  return listPage(db, t, { where, orderBy, page: q.page, pageSize: q.pageSize }, (r) => toBlockView(r, now));
}

export async function getBlockedClient(db: Db, id: string): Promise<BlockedClientRow | null> {
  return (await db.select().from(blockedClients).where(eq(blockedClients.id, id)).get()) ?? null;
}

/** (kind, value, ip) is unique, a null IP counting as one: the id of another entry holding it, if any. */
export async function findBlockId(db: Db, kind: BlockKind, value: string, ip: string | null, exceptId?: string): Promise<string | null> {
  const conditions = [eq(blockedClients.kind, kind), eq(blockedClients.value, value), ip === null ? isNull(blockedClients.ip) : eq(blockedClients.ip, ip)];
  if (exceptId) conditions.push(ne(blockedClients.id, exceptId));
  const row = await db
    .select({ id: blockedClients.id })
    .from(blockedClients)
    .where(and(...conditions))
    .get();
  return row?.id ?? null;
}

export async function insertBlockedClient(db: Db, values: BlockValues, audit: AuditEntry | null, now = new Date()): Promise<BlockedClientRow> {
  const row: BlockedClientRow = { id: crypto.randomUUID(), ...values, source: 'manual', createdAt: now };
  await runConfigChange(db, [db.insert(blockedClients).values(row)], audit ? { ...audit, resourceId: row.id } : null, now);
  return row;
}

/** An operator's edit makes the entry theirs: it is no longer an automatic ban. */
export async function updateBlockedClient(db: Db, id: string, values: BlockValues, audit: AuditEntry | null, now = new Date()): Promise<BlockedClientRow | null> {
  const existing = await getBlockedClient(db, id);
  if (!existing) return null;
  const set = { ...values, source: 'manual' as const };
  await runConfigChange(db, [db.update(blockedClients).set(set).where(eq(blockedClients.id, id))], audit, now);
  return { ...existing, ...set };
}

export async function deleteBlockedClient(db: Db, id: string, audit: AuditEntry | null, now = new Date()): Promise<boolean> {
  const existing = await getBlockedClient(db, id);
  if (!existing) return false;
  await runConfigChange(db, [db.delete(blockedClients).where(eq(blockedClients.id, id))], audit, now);
  return true;
}

/** Cron: automatic bans that have run out. Manual entries stay (operators see them as expired). */
export async function deleteExpiredAutoBlocks(db: Db, now: Date): Promise<number> {
  const where = and(eq(blockedClients.source, 'auto'), isNotNull(blockedClients.expiresAt), lte(blockedClients.expiresAt, now));
  const expired = await db.select({ n: sql<number>`count(*)` }).from(blockedClients).where(where).get();
  if (!expired?.n) return 0;
  await runConfigChange(db, [db.delete(blockedClients).where(where)], null, now);
  return expired.n;
}

