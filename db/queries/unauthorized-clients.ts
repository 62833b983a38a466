import { inArray, lt, sql } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import { unauthorizedClients } from '../schema';

type Db = DrizzleD1Database<Record<string, never>>;

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
          clientId: r.clientId,
          username: r.username,
          passwordProvided: r.passwordProvided,
          tlsUsed: r.tlsUsed,
          ip: r.ip,
          reasonCode: r.reasonCode,
          reason: r.reason,
          attempts: r.attempts,
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
export async function clearClients(db: Db, clientIds: string[]): Promise<void> {
  for (let i = 0; i < clientIds.length; i += 90) {
    await db.delete(unauthorizedClients).where(inArray(unauthorizedClients.clientId, clientIds.slice(i, i + 90)));
  }
}

/** Retention: rows not updated since the cutoff go. Returns how many. */
export async function deleteUnauthorizedOlderThan(db: Db, cutoff: Date): Promise<number> {
  const result = await db.delete(unauthorizedClients).where(lt(unauthorizedClients.lastUpdate, cutoff)).run();
  return result.meta.changes ?? 0;
}

/** Keeps the table bounded: when it grows past max rows, the least recently updated go first. */
export async function enforceUnauthorizedRowLimit(db: Db, maxRows: number): Promise<number> {
  const result = await db
    .delete(unauthorizedClients)
    .where(
      sql`${unauthorizedClients.clientId} IN (SELECT client_id FROM unauthorized_clients ORDER BY last_update ASC LIMIT MAX(0, (SELECT COUNT(*) FROM unauthorized_clients) - ${maxRows}))`,
    )
    .run();
  return result.meta.changes ?? 0;
}
