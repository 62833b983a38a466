import { sql } from 'drizzle-orm';
import { integer, sqliteTable, text, index, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * D1 tables. Only table definitions live here; queries live in db/queries/.
 * drizzle-kit generates migrations/ from this file (npm run db:generate).
 * Times are stored as epoch milliseconds; JSON columns hold small documents
 * validated by zod at the API boundary.
 */

/** One row per refused client id, updated on each new attempt (TBMQ semantics plus counts). */
export const unauthorizedClients = sqliteTable(
  'unauthorized_clients',
  {
    clientId: text('client_id').primaryKey(),
    username: text('username'),
    passwordProvided: integer('password_provided', { mode: 'boolean' }).notNull(),
    tlsUsed: integer('tls_used', { mode: 'boolean' }).notNull(),
    ip: text('ip').notNull(),
    reasonCode: text('reason_code').notNull(),
    reason: text('reason').notNull(),
    attempts: integer('attempts').notNull().default(1),
    firstSeen: integer('first_seen', { mode: 'timestamp_ms' }).notNull(),
    lastUpdate: integer('last_update', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('unauthorized_clients_last_update').on(t.lastUpdate)],
);

/**
 * Authentication providers, tried in ascending priority. `config` is the
 * provider's own JSON settings (see auth/provider-settings.ts).
 */
export const authProviders = sqliteTable('auth_providers', {
  type: text('type', { enum: ['anonymous', 'basic', 'x509', 'jwt', 'scram'] }).primaryKey(),
  enabled: integer('enabled', { mode: 'boolean' }).notNull(),
  priority: integer('priority').notNull(),
  config: text('config', { mode: 'json' }).notNull().$type<Record<string, unknown>>(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
});

/** Broker-wide settings as key -> JSON value (client id prefixes, automatic bans, silent refusal...). */
export const brokerSettings = sqliteTable('broker_settings', {
  key: text('key').primaryKey(),
  value: text('value', { mode: 'json' }).notNull().$type<unknown>(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
});

/**
 * Client credentials of every type. Secrets are stored only as derived values:
 * a mosquitto-compatible PBKDF2 hash for basic, salt/storedKey/serverKey for SCRAM.
 */
export const credentials = sqliteTable(
  'credentials',
  {
    id: text('id').primaryKey(),
    type: text('type', { enum: ['basic', 'x509', 'scram'] }).notNull(),
    name: text('name').notNull(),
    /** basic: match by client id (and/or username, per the basic provider's matchBy). */
    clientId: text('client_id'),
    username: text('username'),
    /** basic: `$7$...` (PBKDF2-SHA512) or imported mosquitto `$6$`; null means no password required. */
    passwordHash: text('password_hash'),
    /** x509: CN pattern matched against the chain, leaf first. */
    cnPattern: text('cn_pattern'),
    cnIsRegex: integer('cn_is_regex', { mode: 'boolean' }).notNull().default(false),
    /** scram: mechanism-specific derived keys. */
    scramMechanism: text('scram_mechanism', { enum: ['SCRAM-SHA-256', 'SCRAM-SHA-512'] }),
    scramSalt: text('scram_salt'),
    scramIterations: integer('scram_iterations'),
    scramStoredKey: text('scram_stored_key'),
    scramServerKey: text('scram_server_key'),
    /** Client ids this credential may use (OASIS MQTT-293); null means any. */
    allowedClientIds: text('allowed_client_ids', { mode: 'json' }).$type<string[] | null>(),
    /** basic/scram: { publish: regex[], subscribe: regex[] }; null = topic ACL rules alone decide. */
    rules: text('rules', { mode: 'json' }).$type<{ publish: string[]; subscribe: string[] } | null>(),
    /** x509: per-CN rules, first matching cnPattern (regex on the leaf CN) wins. */
    cnRules: text('cn_rules', { mode: 'json' }).$type<Array<{ cnPattern: string; publish: string[]; subscribe: string[] }> | null>(),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [
    index('credentials_type').on(t.type),
    index('credentials_username').on(t.username),
    index('credentials_client_id').on(t.clientId),
  ],
);

/**
 * Mosquitto-style topic ACL rules (acl_file semantics): `topic` lines for
 * anonymous clients, `user` sections, and `pattern` lines for everyone with
 * %c / %u substitution. Evaluated in ascending position.
 */
export const aclRules = sqliteTable(
  'acl_rules',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['topic', 'pattern'] }).notNull(),
    /** anonymous: `topic` lines before any `user`; user: a `user <name>` section; all: `pattern` lines. */
    principalType: text('principal_type', { enum: ['anonymous', 'user', 'all'] }).notNull(),
    username: text('username'),
    access: text('access', { enum: ['read', 'write', 'readwrite', 'deny'] }).notNull(),
    topic: text('topic').notNull(),
    position: integer('position').notNull(),
    comment: text('comment'),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('acl_rules_username').on(t.username), index('acl_rules_position').on(t.position)],
);

/** The IP part of a blocked client's unique key, as its index holds it; an upsert names the same expression as its target. */
export const blockedClientIpKey = sql`(CASE WHEN ip IS NULL THEN '' ELSE ip END)`;

/**
 * Blocked clients, checked before authentication. `source` auto marks temporary bans after repeated failures.
 * A clientId entry with an `ip` blocks that client id from that IP only (automatic bans are made so); null blocks it everywhere.
 */
export const blockedClients = sqliteTable(
  'blocked_clients',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['clientId', 'username', 'ip', 'cidr', 'clientIdRegex', 'usernameRegex'] }).notNull(),
    value: text('value').notNull(),
    ip: text('ip'),
    description: text('description'),
    source: text('source', { enum: ['manual', 'auto'] }).notNull(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  },
  // One entry per kind, value and IP; NULL read as '' because SQLite holds NULLs distinct, and one everywhere-entry per value is the rule.
  (t) => [uniqueIndex('blocked_clients_kind_value_ip').on(t.kind, t.value, blockedClientIpKey), index('blocked_clients_expires_at').on(t.expiresAt)],
);

/** Our own certificate revocation entries, because the platform checks revocation only for its managed CA. */
export const certificateRevocations = sqliteTable(
  'certificate_revocations',
  {
    id: text('id').primaryKey(),
    /** Upper-case hex serial without separators, with the issuer DN it belongs to. */
    serial: text('serial'),
    issuerDn: text('issuer_dn'),
    /** Lower-case hex SHA-256 of the DER certificate. */
    fingerprintSha256: text('fingerprint_sha256'),
    /** manual, or crl when the entry came from an uploaded CRL (crlId groups them). */
    source: text('source', { enum: ['manual', 'crl'] }).notNull(),
    crlId: text('crl_id'),
    description: text('description'),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('certificate_revocations_serial').on(t.serial), index('certificate_revocations_fingerprint').on(t.fingerprintSha256)],
);

/** Admin and viewer accounts for the REST API and the dashboard. */
export const adminUsers = sqliteTable('admin_users', {
  id: text('id').primaryKey(),
  username: text('username').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  role: text('role', { enum: ['admin', 'viewer'] }).notNull(),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  lastLoginAt: integer('last_login_at', { mode: 'timestamp_ms' }),
});

/** API keys for automation; only a SHA-256 of the key is stored. */
export const apiKeys = sqliteTable('api_keys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  keyHash: text('key_hash').notNull().unique(),
  /** First characters of the key, shown so operators can tell keys apart. */
  prefix: text('prefix').notNull(),
  role: text('role', { enum: ['admin', 'viewer'] }).notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
  revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
});

/** Every admin change: who, what, when. */
export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    resource: text('resource').notNull(),
    resourceId: text('resource_id'),
    detail: text('detail', { mode: 'json' }).$type<Record<string, unknown> | null>(),
  },
  (t) => [index('audit_log_at').on(t.at)],
);

/** Failed admin logins per key (ip or username) in the current window, to rate-limit login. */
export const loginAttempts = sqliteTable('login_attempts', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  windowStart: integer('window_start', { mode: 'timestamp_ms' }).notNull(),
});

/**
 * One row: a counter bumped by every change to credentials, ACLs, blocks,
 * providers or settings. The broker reads it cheaply to know its caches are stale.
 */
export const configVersion = sqliteTable('config_version', {
  id: integer('id').primaryKey(),
  version: integer('version').notNull(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
});
