import { asc, eq, sql } from 'drizzle-orm';
import { adminUsers } from '../schema';
import type { AuditEntry } from './audit-log';
import { runBatch } from './config-version';
import type { Db } from './db';

export type AdminUserRow = typeof adminUsers.$inferSelect;
export type AdminRole = AdminUserRow['role'];

export interface AdminUserView {
  id: string;
  username: string;
  role: AdminRole;
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
}

export function toAdminUserView(r: AdminUserRow): AdminUserView {
  return {
    id: r.id,
    username: r.username,
    role: r.role,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    lastLoginAt: r.lastLoginAt ? r.lastLoginAt.toISOString() : null,
  };
}

export async function countAdminUsers(db: Db): Promise<number> {
  const row = await db.select({ n: sql<number>`count(*)` }).from(adminUsers).get();
  return row?.n ?? 0;
}

export async function countAdmins(db: Db): Promise<number> {
  const row = await db.select({ n: sql<number>`count(*)` }).from(adminUsers).where(eq(adminUsers.role, 'admin')).get();
  return row?.n ?? 0;
}

export async function findAdminUserByName(db: Db, username: string): Promise<AdminUserRow | null> {
  return (await db.select().from(adminUsers).where(eq(adminUsers.username, username)).get()) ?? null;
}

export async function getAdminUser(db: Db, id: string): Promise<AdminUserRow | null> {
  return (await db.select().from(adminUsers).where(eq(adminUsers.id, id)).get()) ?? null;
}

export async function listAdminUsers(db: Db): Promise<AdminUserView[]> {
  const rows = await db.select().from(adminUsers).orderBy(asc(adminUsers.username));
  return rows.map(toAdminUserView);
}

/**
 * Creates the first admin only while the table is empty; concurrent first
 * requests cannot create two (the insert is conditional on emptiness).
 */
export async function insertFirstAdmin(db: Db, username: string, passwordHash: string, now = new Date()): Promise<boolean> {
  const id = crypto.randomUUID();
  const result = await db.run(
    sql`INSERT INTO admin_users (id, username, password_hash, role, created_at, updated_at)
        SELECT ${id}, ${username}, ${passwordHash}, 'admin', ${now.getTime()}, ${now.getTime()}
        WHERE NOT EXISTS (SELECT 1 FROM admin_users)`,
  );
  return (result.meta.changes ?? 0) > 0;
}

export async function insertAdminUser(
  db: Db,
  values: { username: string; passwordHash: string; role: AdminRole },
  audit: AuditEntry | null,
  now = new Date(),
): Promise<AdminUserRow> {
  const row: AdminUserRow = { id: crypto.randomUUID(), ...values, createdAt: now, updatedAt: now, lastLoginAt: null };
  await runBatch(db, [db.insert(adminUsers).values(row)], audit ? { ...audit, resourceId: row.id } : null, now);
  return row;
}

export async function updateAdminUser(
  db: Db,
  id: string,
  values: { role?: AdminRole; passwordHash?: string },
  audit: AuditEntry | null,
  now = new Date(),
): Promise<AdminUserRow | null> {
  const existing = await getAdminUser(db, id);
  if (!existing) return null;
  await runBatch(db, [db.update(adminUsers).set({ ...values, updatedAt: now }).where(eq(adminUsers.id, id))], audit, now);
  return { ...existing, ...values, updatedAt: now };
}

export async function deleteAdminUser(db: Db, id: string, audit: AuditEntry | null, now = new Date()): Promise<boolean> {
  const existing = await getAdminUser(db, id);
  if (!existing) return false;
  await runBatch(db, [db.delete(adminUsers).where(eq(adminUsers.id, id))], audit, now);
  return true;
}

export async function recordAdminLogin(db: Db, id: string, now = new Date()): Promise<void> {
  await db.update(adminUsers).set({ lastLoginAt: now }).where(eq(adminUsers.id, id));
}
