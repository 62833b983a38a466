import { integer, sqliteTable, text, index } from 'drizzle-orm/sqlite-core';

/**
 * D1 tables. Only table definitions live here; queries live in db/queries/.
 * drizzle-kit generates migrations/ from this file (npm run db:generate).
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
