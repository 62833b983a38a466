import { asc, desc, eq, gte, inArray, lt, lte, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import type { UnauthorizedClient as UnauthorizedClientView, UnauthorizedSort, UnauthorizedSummary } from '../../worker/admin/contract/security';
import type { Db } from './db';
import { unauthorizedClients } from '../schema';
import type { AuditEntry } from './audit-log';
import { runBatch } from './config-version';
import { allOf, contains, listPage, sortedBy, type Page } from './paging';


export interface RefusalRow {
  clientId: string;
  username: string | null;
  passwordProvided: boolean;
  tlsUsed: boolean;
  ip: string;
  reasonCode: string;
  reason: string;
  at: number;
  attempts: number;
}

/** D1 caps statements per batch; refusals are written in chunks of this many upserts. */
const BATCH_STATEMENTS = 50;

/** A flood of refusals with huge ids must not turn into huge rows. */
export const REFUSAL_FIELD_LIMITS = { clientId: 512, username: 512, ip: 64, reasonCode: 64, reason: 2048 } as const;

function cut(value: string, max: number): string {
  return value.length > max ? value.slice(0, max) : value;
}

/**
 * Upserts refused attempts: one row per client id (TBMQ), the newest attempt
 * wins every field except first_seen, and attempts accumulate. Values are
 * bound parameters, never SQL text.
 */
export async function recordRefusals(db: Db, rows: RefusalRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH_STATEMENTS) {
    const chunk = rows.slice(i, i + BATCH_STATEMENTS);
    const statements = chunk.map((r) =>
      db
        .insert(unauthorizedClients)
        .values({
          clientId: cut(r.clientId, REFUSAL_FIELD_LIMITS.clientId),
          username: r.username === null ? null : cut(r.username, REFUSAL_FIELD_LIMITS.username),
          passwordProvided: r.passwordProvided,
          tlsUsed: r.tlsUsed,
          ip: cut(r.ip, REFUSAL_FIELD_LIMITS.ip),
          reasonCode: cut(r.reasonCode, REFUSAL_FIELD_LIMITS.reasonCode),
          reason: cut(r.reason, REFUSAL_FIELD_LIMITS.reason),
          attempts: Math.max(1, Math.floor(r.attempts)),
          firstSeen: new Date(r.at),
          lastUpdate: new Date(r.at),
        })
        .onConflictDoUpdate({
          target: unauthorizedClients.clientId,
          set: {
            username: sql`excluded.username`,
            passwordProvided: sql`excluded.password_provided`,
            tlsUsed: sql`excluded.tls_used`,
            ip: sql`excluded.ip`,
            reasonCode: sql`excluded.reason_code`,
            reason: sql`excluded.reason`,
            attempts: sql`${unauthorizedClients.attempts} + excluded.attempts`,
            lastUpdate: sql`excluded.last_update`,
          },
        }),
    );
    await db.batch(statements as [(typeof statements)[0], ...typeof statements]);
  }
}

/** A successful login removes the client id's row. */
export async function clearClient(db: Db, clientId: string): Promise<void> {
  await db.delete(unauthorizedClients).where(eq(unauthorizedClients.clientId, clientId));
}

/** clearClient for many ids at once (the recorder flushes successes in batches). */
export async function clearClients(db: Db, clientIds: string[]): Promise<void> {
  for (let i = 0; i < clientIds.length; i += 90) {
    await db.delete(unauthorizedClients).where(inArray(unauthorizedClients.clientId, clientIds.slice(i, i + 90)));
  }
}

/** Retention: rows not updated since the cutoff go. Returns how many. */
export async function deleteOlderThan(db: Db, cutoff: Date): Promise<number> {
  const result = await db.delete(unauthorizedClients).where(lt(unauthorizedClients.lastUpdate, cutoff)).run();
  return result.meta.changes ?? 0;
}

/** Keeps the table bounded: when it grows past max rows, the least recently updated go first. */
export async function enforceRowLimit(db: Db, maxRows: number): Promise<number> {
  const result = await db
    .delete(unauthorizedClients)
    .where(
      sql`${unauthorizedClients.clientId} IN (SELECT client_id FROM unauthorized_clients ORDER BY last_update ASC LIMIT MAX(0, (SELECT COUNT(*) FROM unauthorized_clients) - ${maxRows}))`,
    )
    .run();
  return result.meta.changes ?? 0;
}

export const enforceUnauthorizedRowLimit = enforceRowLimit;

// ---------------------------------------------------------------- admin API

const SORT_COLUMNS: Record<UnauthorizedSort, AnyColumn> = {
  clientId: unauthorizedClients.clientId,
  username: unauthorizedClients.username,
  passwordProvided: unauthorizedClients.passwordProvided,
  tlsUsed: unauthorizedClients.tlsUsed,
  ip: unauthorizedClients.ip,
  reasonCode: unauthorizedClients.reasonCode,
  reason: unauthorizedClients.reason,
  lastUpdate: unauthorizedClients.lastUpdate,
  firstSeen: unauthorizedClients.firstSeen,
  attempts: unauthorizedClients.attempts,
};

export interface UnauthorizedQuery {
  clientId?: string;
  username?: string;
  ip?: string;
  reason?: string;
  /** Rows whose flag is one of these; empty or absent means any. */
  passwordProvided?: boolean[];
  tlsUsed?: boolean[];
  /** Inclusive bounds on lastUpdate. */
  from?: Date;
  to?: Date;
  sort?: UnauthorizedSort;
  order?: 'asc' | 'desc';
  page: number;
  pageSize: number;
}

/** The API's shape of a row (worker/admin/contract). */
export type { UnauthorizedClientView };

type Row = typeof unauthorizedClients.$inferSelect;

function toView(r: Row): UnauthorizedClientView {
  return {
    clientId: r.clientId,
    username: r.username,
    passwordProvided: r.passwordProvided,
    tlsUsed: r.tlsUsed,
    ip: r.ip,
    reasonCode: r.reasonCode,
    reason: r.reason,
    lastUpdate: r.lastUpdate.toISOString(),
    firstSeen: r.firstSeen.toISOString(),
    attempts: r.attempts,
  };
}

function flagIn(column: typeof unauthorizedClients.tlsUsed | typeof unauthorizedClients.passwordProvided, values: boolean[] | undefined): SQL | undefined {
  if (!values || values.length === 0) return undefined;
  const distinct = [...new Set(values)];
  // Both values listed: no restriction.
  if (distinct.length === 2) return undefined;
  return eq(column, distinct[0]);
}

export async function listUnauthorizedClients(db: Db, q: UnauthorizedQuery): Promise<Page<UnauthorizedClientView>> {
  const t = unauthorizedClients;
  const where = allOf([
    q.clientId ? contains(t.clientId, q.clientId) : undefined,
    // Rows without a username never match a username filter.
    q.username ? contains(t.username, q.username) : undefined,
    q.ip ? contains(t.ip, q.ip) : undefined,
    // The reason filter looks at the stable code and at the words operators read.
    q.reason ? sql`(${contains(t.reasonCode, q.reason)} OR ${contains(t.reason, q.reason)})` : undefined,
    flagIn(t.passwordProvided, q.passwordProvided),
    flagIn(t.tlsUsed, q.tlsUsed),
    q.from ? gte(t.lastUpdate, q.from) : undefined,
    q.to ? lte(t.lastUpdate, q.to) : undefined,
  ]);
  const orderBy = sortedBy(SORT_COLUMNS, q.sort ?? 'lastUpdate', q.order ?? 'desc', t.clientId);
  return listPage(db, t, { where, orderBy, page: q.page, pageSize: q.pageSize }, toView);
}

/**
 * The whole log counted by IP and by reason code, the `limit` largest of
 * each by attempts (ties in key order), with the totals: one D1 batch.
 */
export async function summarizeUnauthorizedClients(db: Db, limit: number): Promise<UnauthorizedSummary> {
  const t = unauthorizedClients;
  const attempts = sql<number>`sum(${t.attempts})`;
  const clients = sql<number>`count(*)`;
  const [totals, byIp, byReason] = await db.batch([
    db.select({ clients, attempts: sql<number>`coalesce(sum(${t.attempts}), 0)` }).from(t),
    db.select({ ip: t.ip, attempts, clients }).from(t).groupBy(t.ip).orderBy(desc(attempts), asc(t.ip)).limit(limit),
    db.select({ reasonCode: t.reasonCode, attempts, clients }).from(t).groupBy(t.reasonCode).orderBy(desc(attempts), asc(t.reasonCode)).limit(limit),
  ]);
  return { clients: totals[0]?.clients ?? 0, attempts: totals[0]?.attempts ?? 0, byIp, byReason };
}

export async function getUnauthorizedClient(db: Db, clientId: string): Promise<UnauthorizedClientView | null> {
  const row = await db.select().from(unauthorizedClients).where(eq(unauthorizedClients.clientId, clientId)).get();
  return row ? toView(row) : null;
}

export async function deleteUnauthorizedClient(db: Db, clientId: string, audit: AuditEntry | null, now = new Date()): Promise<boolean> {
  const existing = await db.select({ id: unauthorizedClients.clientId }).from(unauthorizedClients).where(eq(unauthorizedClients.clientId, clientId)).get();
  if (!existing) return false;
  await runBatch(db, [db.delete(unauthorizedClients).where(eq(unauthorizedClients.clientId, clientId))], audit, now);
  return true;
}

/** Returns how many rows were removed. */
export async function deleteAllUnauthorizedClients(db: Db, audit: AuditEntry | null, now = new Date()): Promise<number> {
  const count = await db.select({ n: sql<number>`count(*)` }).from(unauthorizedClients).get();
  await runBatch(db, [db.delete(unauthorizedClients)], audit ? { ...audit, detail: { ...audit.detail, rows: count?.n ?? 0 } } : null, now);
  return count?.n ?? 0;
}
