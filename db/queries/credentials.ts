import { and, eq, ne, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { credentials } from '../schema';
import type { AuditEntry } from './audit-log';
import { runConfigChange } from './config-version';
import type { Db } from './db';
import { allOf, contains, listPage, sortedBy, type Page } from './paging';
import type { CredentialSort, Credential as CredentialView } from '../../worker/admin/contract/security';

export type CredentialRow = typeof credentials.$inferSelect;
export type CredentialType = CredentialRow['type'];
export type TopicRules = { publish: string[]; subscribe: string[] };
export type CnRule = { cnPattern: string; publish: string[]; subscribe: string[] };

/** Everything a credential stores; secrets are already derived (hash, SCRAM keys). */
export interface CredentialValues {
  type: CredentialType;
  name: string;
  clientId: string | null;
  username: string | null;
  passwordHash: string | null;
  cnPattern: string | null;
  cnIsRegex: boolean;
  scramMechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | null;
  scramSalt: string | null;
  scramIterations: number | null;
  scramStoredKey: string | null;
  scramServerKey: string | null;
  allowedClientIds: string[] | null;
  rules: TopicRules | null;
  cnRules: CnRule[] | null;
}

/** Every stored field of a credential but its type and name, empty: a type leaves the fields it does not use like this. */
export const BLANK_CREDENTIAL_FIELDS: Readonly<Omit<CredentialValues, 'type' | 'name'>> = {
  clientId: null,
  username: null,
  passwordHash: null,
  cnPattern: null,
  cnIsRegex: false,
  scramMechanism: null,
  scramSalt: null,
  scramIterations: null,
  scramStoredKey: null,
  scramServerKey: null,
  allowedClientIds: null,
  rules: null,
  cnRules: null,
};

/** What the API shows (worker/admin/contract): secrets only as whether they are set. */
export type { CredentialView };

export function toCredentialView(r: CredentialRow): CredentialView {
  return {
    id: r.id,
    type: r.type,
    name: r.name,
    clientId: r.clientId,
    username: r.username,
    hasPassword: r.passwordHash !== null,
    cnPattern: r.cnPattern,
    cnIsRegex: r.cnIsRegex,
    scramMechanism: r.scramMechanism,
    scramIterations: r.scramIterations,
    hasScramKeys: r.scramSalt !== null && r.scramStoredKey !== null && r.scramServerKey !== null,
    allowedClientIds: r.allowedClientIds ?? null,
    rules: r.rules ?? null,
    cnRules: r.cnRules ?? null,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export interface CredentialQuery {
  type?: CredentialType;
  clientId?: string;
  username?: string;
  /** Substring of the CN pattern (x509) or of a per-CN rule pattern. */
  cn?: string;
  /** Substring of the name, username, client id or CN pattern. */
  search?: string;
  sort?: CredentialSort;
  order?: 'asc' | 'desc';
  page: number;
  pageSize: number;
}

const t = credentials;
const SORT_COLUMNS: Record<CredentialSort, AnyColumn | SQL> = {
  name: t.name,
  type: t.type,
  username: t.username,
  clientId: t.clientId,
  cnPattern: t.cnPattern,
  // Whether the secret the type uses is set; X.509 has none (null sorts first).
  hasPassword: sql`CASE ${t.type} WHEN 'x509' THEN NULL WHEN 'scram' THEN (${t.scramSalt} IS NOT NULL AND ${t.scramStoredKey} IS NOT NULL AND ${t.scramServerKey} IS NOT NULL) ELSE ${t.passwordHash} IS NOT NULL END`,
  updatedAt: t.updatedAt,
};

export async function listCredentials(db: Db, q: CredentialQuery): Promise<Page<CredentialView>> {
  const where = allOf([
    q.type ? eq(t.type, q.type) : undefined,
    q.clientId ? contains(t.clientId, q.clientId) : undefined,
    q.username ? contains(t.username, q.username) : undefined,
    q.cn ? sql`(${contains(t.cnPattern, q.cn)} OR ${contains(t.cnRules, q.cn)})` : undefined,
    q.search
      ? sql`(${contains(t.name, q.search)} OR ${contains(t.username, q.search)} OR ${contains(t.clientId, q.search)} OR ${contains(t.cnPattern, q.search)})`
      : undefined,
  ]);
  const orderBy = sortedBy(SORT_COLUMNS, q.sort ?? 'name', q.order ?? 'asc', t.id);
  return listPage(db, t, { where, orderBy, page: q.page, pageSize: q.pageSize }, toCredentialView);
}

export async function getCredential(db: Db, id: string): Promise<CredentialRow | null> {
  return (await db.select().from(credentials).where(eq(credentials.id, id)).get()) ?? null;
}

/** SCRAM looks a credential up by (username, mechanism), so that pair must be unique. */
export async function findScramCredentialId(db: Db, username: string, mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', exceptId?: string): Promise<string | null> {
  const conditions = [eq(credentials.type, 'scram'), eq(credentials.username, username), eq(credentials.scramMechanism, mechanism)];
  if (exceptId) conditions.push(ne(credentials.id, exceptId));
  const row = await db
    .select({ id: credentials.id })
    .from(credentials)
    .where(and(...conditions))
    .get();
  return row?.id ?? null;
}

export async function insertCredential(db: Db, values: CredentialValues, audit: AuditEntry | null, now = new Date()): Promise<CredentialRow> {
  const row: CredentialRow = { id: crypto.randomUUID(), ...values, createdAt: now, updatedAt: now };
  await runConfigChange(db, [db.insert(credentials).values(row)], audit ? { ...audit, resourceId: row.id } : null, now);
  return row;
}


export async function updateCredential(db: Db, id: string, values: CredentialValues, audit: AuditEntry | null, now = new Date()): Promise<CredentialRow | null> {
  const existing = await getCredential(db, id);
  if (!existing) return null;
  await runConfigChange(db, [db.update(credentials).set({ ...values, updatedAt: now }).where(eq(credentials.id, id))], audit, now);
  return { ...existing, ...values, updatedAt: now };
}

export async function deleteCredential(db: Db, id: string, audit: AuditEntry | null, now = new Date()): Promise<boolean> {
  const existing = await getCredential(db, id);
  if (!existing) return false;
  await runConfigChange(db, [db.delete(credentials).where(eq(credentials.id, id))], audit, now);
  return true;
}


/** Credentials that carry topic rules, for evaluating ACLs as the broker does. */
export async function credentialsWithRules(db: Db): Promise<Array<Pick<CredentialRow, 'id' | 'rules' | 'cnRules'>>> {
  return db
    .select({ id: credentials.id, rules: credentials.rules, cnRules: credentials.cnRules })
    .from(credentials)
    .where(sql`${credentials.rules} IS NOT NULL OR ${credentials.cnRules} IS NOT NULL`);
}
