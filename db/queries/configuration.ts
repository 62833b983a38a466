import { and, eq, getTableColumns, sql } from 'drizzle-orm';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import { aclRules, authProviders, blockedClients, brokerSettings, certificateRevocations, credentials } from '../schema';
import type { AuditEntry } from './audit-log';
import { runConfigChange } from './config-version';
import type { Db, Statement } from './db';

/**
 * The whole security configuration as rows, for export and import. Admin
 * accounts and API keys are never part of it.
 */
export interface ConfigurationRows {
  credentials?: (typeof credentials.$inferInsert)[];
  aclRules?: (typeof aclRules.$inferInsert)[];
  blockedClients?: (typeof blockedClients.$inferInsert)[];
  certificateRevocations?: (typeof certificateRevocations.$inferInsert)[];
  authProviders?: (typeof authProviders.$inferInsert)[];
  settings?: Record<string, unknown>;
}

export async function readConfiguration(db: Db): Promise<Required<Omit<ConfigurationRows, 'settings'>> & { settings: Record<string, unknown> }> {
  const [creds, rules, blocks, revocations, providers, settings] = await db.batch([
    db.select().from(credentials).orderBy(credentials.createdAt, credentials.id),
    db.select().from(aclRules).orderBy(aclRules.position, aclRules.createdAt, aclRules.id),
    db.select().from(blockedClients).orderBy(blockedClients.createdAt, blockedClients.id),
    db.select().from(certificateRevocations).orderBy(certificateRevocations.createdAt, certificateRevocations.id),
    db.select().from(authProviders).orderBy(authProviders.priority),
    db.select().from(brokerSettings),
  ]);
  return {
    credentials: creds,
    aclRules: rules,
    blockedClients: blocks,
    certificateRevocations: revocations,
    authProviders: providers,
    settings: Object.fromEntries(settings.map((s) => [s.key, s.value])),
  };
}

/** D1 binds at most 100 parameters per statement, so multi-row inserts are cut to fit. */
const MAX_PARAMETERS = 100;

function inserts<T extends SQLiteTable>(db: Db, table: T, rows: T['$inferInsert'][]): Statement[] {
  const perRow = Object.keys(getTableColumns(table)).length;
  const size = Math.max(1, Math.floor(MAX_PARAMETERS / perRow));
  const out: Statement[] = [];
  for (let i = 0; i < rows.length; i += size) out.push(db.insert(table).values(rows.slice(i, i + size) as never));
  return out;
}

/**
 * Replaces every section the document contains, all in one batch (one
 * transaction): sections it leaves out stay as they are.
 */
export async function replaceConfiguration(db: Db, doc: ConfigurationRows, audit: AuditEntry | null, now = new Date()): Promise<void> {
  const statements: Statement[] = [];
  if (doc.credentials) statements.push(db.delete(credentials), ...inserts(db, credentials, doc.credentials));
  if (doc.aclRules) statements.push(db.delete(aclRules), ...inserts(db, aclRules, doc.aclRules));
  if (doc.blockedClients) statements.push(db.delete(blockedClients), ...inserts(db, blockedClients, doc.blockedClients));
  if (doc.certificateRevocations) statements.push(db.delete(certificateRevocations), ...inserts(db, certificateRevocations, doc.certificateRevocations));
  if (doc.authProviders) statements.push(db.delete(authProviders), ...inserts(db, authProviders, doc.authProviders));
  if (doc.settings) {
    statements.push(
      db.delete(brokerSettings),
      ...inserts(
        db,
        brokerSettings,
        Object.entries(doc.settings).map(([key, value]) => ({ key, value, updatedAt: now })),
      ),
    );
  }
  await runConfigChange(db, statements, audit, now);
}

export interface MosquittoImport {
  /** passwd entries: each updates the basic credentials with that username, or creates one. */
  users: Array<{ username: string; passwordHash: string }>;
  /** acl_file rules in file order. */
  rules: Array<Pick<typeof aclRules.$inferInsert, 'kind' | 'principalType' | 'username' | 'access' | 'topic' | 'comment'>>;
  /** Replace every stored ACL rule instead of adding after them. */
  replaceAclRules: boolean;
  /**
   * An acl_file was imported: store the `aclDefaultPolicy` setting `deny`, so
   * what the file does not grant is denied, as mosquitto does with an acl_file.
   */
  aclFile: boolean;
}

export interface MosquittoImportResult {
  credentials: { created: number; updated: number };
  aclRules: { created: number; removed: number };
  /** The ACL default policy the import stored, or null when it left it alone (no acl_file). */
  aclDefaultPolicy: 'deny' | null;
}

/** mosquitto's password_file and acl_file as one change. */
export async function applyMosquittoImport(db: Db, input: MosquittoImport, audit: AuditEntry | null, now = new Date()): Promise<MosquittoImportResult> {
  const statements: Statement[] = [];
  // One unparameterised read: D1 binds at most 100 values, and a passwd file may name thousands of users.
  const existing = await db.selectDistinct({ username: credentials.username }).from(credentials).where(eq(credentials.type, 'basic'));
  const known = new Set(existing.map((r) => r.username));
  const created: (typeof credentials.$inferInsert)[] = [];
  let updated = 0;
  for (const u of input.users) {
    if (known.has(u.username)) {
      statements.push(
        db
          .update(credentials)
          .set({ passwordHash: u.passwordHash, updatedAt: now })
          .where(and(eq(credentials.type, 'basic'), eq(credentials.username, u.username))),
      );
      updated++;
    } else {
      created.push({ id: crypto.randomUUID(), type: 'basic', name: u.username, username: u.username, passwordHash: u.passwordHash, createdAt: now, updatedAt: now });
    }
  }
  statements.push(...inserts(db, credentials, created));

  let removed = 0;
  let position = 10;
  if (input.replaceAclRules) {
    removed = (await db.select({ n: sql<number>`count(*)` }).from(aclRules).get())?.n ?? 0;
    statements.push(db.delete(aclRules));
  } else {
    const max = await db.select({ max: sql<number | null>`max(${aclRules.position})` }).from(aclRules).get();
    position = (max?.max ?? 0) + 10;
  }
  statements.push(
    ...inserts(
      db,
      aclRules,
      input.rules.map((r, i) => ({ ...r, id: crypto.randomUUID(), position: position + i * 10, createdAt: now, updatedAt: now })),
    ),
  );
  if (input.aclFile) {
    statements.push(
      db
        .insert(brokerSettings)
        .values({ key: 'aclDefaultPolicy', value: 'deny', updatedAt: now })
        .onConflictDoUpdate({ target: brokerSettings.key, set: { value: 'deny', updatedAt: now } }),
    );
  }
  await runConfigChange(db, statements, audit, now);
  return {
    credentials: { created: created.length, updated },
    aclRules: { created: input.rules.length, removed },
    aclDefaultPolicy: input.aclFile ? 'deny' : null,
  };
}
