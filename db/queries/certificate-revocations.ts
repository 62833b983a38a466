import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { certificateRevocations } from '../schema';
import type { AuditEntry } from './audit-log';
import { runConfigChange } from './config-version';
import type { Db, Statement } from './db';
import { allOf, contains, listPage, type Page } from './paging';

/** D1 binds at most 100 parameters per statement; a revocation row has 8. */
const ROWS_PER_INSERT = 12;

export type RevocationRow = typeof certificateRevocations.$inferSelect;

export interface RevocationValues {
  serial: string | null;
  issuerDn: string | null;
  fingerprintSha256: string | null;
  description: string | null;
}

export interface RevocationView extends RevocationValues {
  id: string;
  source: 'manual' | 'crl';
  crlId: string | null;
  createdAt: string;
}

export function toRevocationView(r: RevocationRow): RevocationView {
  return {
    id: r.id,
    serial: r.serial,
    issuerDn: r.issuerDn,
    fingerprintSha256: r.fingerprintSha256,
    description: r.description,
    source: r.source,
    crlId: r.crlId,
    createdAt: r.createdAt.toISOString(),
  };
}

export interface RevocationQuery {
  serial?: string;
  fingerprint?: string;
  issuer?: string;
  source?: 'manual' | 'crl';
  crlId?: string;
  page: number;
  pageSize: number;
}

export async function listRevocations(db: Db, q: RevocationQuery): Promise<Page<RevocationView>> {
  const t = certificateRevocations;
  const where = allOf([
    q.serial ? contains(t.serial, q.serial) : undefined,
    q.fingerprint ? contains(t.fingerprintSha256, q.fingerprint) : undefined,
    q.issuer ? contains(t.issuerDn, q.issuer) : undefined,
    q.source ? eq(t.source, q.source) : undefined,
    q.crlId ? eq(t.crlId, q.crlId) : undefined,
  ]);
  return listPage(db, t, { where, orderBy: [desc(t.createdAt), asc(t.id)], page: q.page, pageSize: q.pageSize }, toRevocationView);
}

export async function getRevocation(db: Db, id: string): Promise<RevocationRow | null> {
  return (await db.select().from(certificateRevocations).where(eq(certificateRevocations.id, id)).get()) ?? null;
}

export async function insertRevocation(db: Db, values: RevocationValues, audit: AuditEntry | null, now = new Date()): Promise<RevocationRow> {
  const row: RevocationRow = { id: crypto.randomUUID(), ...values, source: 'manual', crlId: null, createdAt: now };
  await runConfigChange(db, [db.insert(certificateRevocations).values(row)], audit ? { ...audit, resourceId: row.id } : null, now);
  return row;
}

export async function deleteRevocation(db: Db, id: string, audit: AuditEntry | null, now = new Date()): Promise<boolean> {
  const existing = await getRevocation(db, id);
  if (!existing) return false;
  await runConfigChange(db, [db.delete(certificateRevocations).where(eq(certificateRevocations.id, id))], audit, now);
  return true;
}

/**
 * Stores the serials of an uploaded CRL. A newer CRL from the same issuer
 * replaces the entries of the older one, because a CRL lists everything its
 * issuer currently revokes.
 */
export async function replaceCrlEntries(
  db: Db,
  crl: { issuerDn: string; serials: string[]; description: string | null },
  audit: AuditEntry | null,
  now = new Date(),
): Promise<{ crlId: string; replaced: number }> {
  const crlId = crypto.randomUUID();
  const sameIssuer = and(eq(certificateRevocations.source, 'crl'), eq(certificateRevocations.issuerDn, crl.issuerDn));
  const previous = await db.select({ n: sql<number>`count(*)` }).from(certificateRevocations).where(sameIssuer).get();
  const statements: Statement[] = [db.delete(certificateRevocations).where(sameIssuer)];
  const rows = crl.serials.map((serial) => ({
    id: crypto.randomUUID(),
    serial,
    issuerDn: crl.issuerDn,
    fingerprintSha256: null,
    source: 'crl' as const,
    crlId,
    description: crl.description,
    createdAt: now,
  }));
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    statements.push(db.insert(certificateRevocations).values(rows.slice(i, i + ROWS_PER_INSERT)));
  }
  await runConfigChange(db, statements, audit ? { ...audit, resourceId: crlId } : null, now);
  return { crlId, replaced: previous?.n ?? 0 };
}

