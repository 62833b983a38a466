import { asc, eq } from 'drizzle-orm';
import { apiKeys } from '../schema';
import type { AuditEntry } from './audit-log';
import { runBatch } from './config-version';
import type { Db } from './db';

export type ApiKeyRow = typeof apiKeys.$inferSelect;

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  role: 'admin' | 'viewer';
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export function toApiKeyView(r: ApiKeyRow): ApiKeyView {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    role: r.role,
    createdBy: r.createdBy,
    createdAt: r.createdAt.toISOString(),
    lastUsedAt: r.lastUsedAt ? r.lastUsedAt.toISOString() : null,
    revokedAt: r.revokedAt ? r.revokedAt.toISOString() : null,
  };
}

export async function listApiKeys(db: Db): Promise<ApiKeyView[]> {
  const rows = await db.select().from(apiKeys).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
  return rows.map(toApiKeyView);
}

export async function getApiKey(db: Db, id: string): Promise<ApiKeyRow | null> {
  return (await db.select().from(apiKeys).where(eq(apiKeys.id, id)).get()) ?? null;
}

export async function findApiKeyByHash(db: Db, keyHash: string): Promise<ApiKeyRow | null> {
  return (await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash)).get()) ?? null;
}

export async function insertApiKey(
  db: Db,
  values: { name: string; keyHash: string; prefix: string; role: 'admin' | 'viewer'; createdBy: string },
  audit: AuditEntry | null,
  now = new Date(),
): Promise<ApiKeyRow> {
  const row: ApiKeyRow = { id: crypto.randomUUID(), ...values, createdAt: now, lastUsedAt: null, revokedAt: null };
  await runBatch(db, [db.insert(apiKeys).values(row)], audit ? { ...audit, resourceId: row.id } : null, now);
  return row;
}

/** Revoked keys stay listed (who had access, and until when); they no longer authenticate. */
export async function revokeApiKey(db: Db, id: string, audit: AuditEntry | null, now = new Date()): Promise<ApiKeyRow | null> {
  const existing = await getApiKey(db, id);
  if (!existing) return null;
  if (existing.revokedAt) return existing;
  await runBatch(db, [db.update(apiKeys).set({ revokedAt: now }).where(eq(apiKeys.id, id))], audit, now);
  return { ...existing, revokedAt: now };
}

export async function touchApiKey(db: Db, id: string, now = new Date()): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, id));
}
