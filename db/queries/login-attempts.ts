import { eq, inArray, lt, sql } from 'drizzle-orm';
import { loginAttempts } from '../schema';
import type { Db } from './db';

export interface AttemptWindow {
  key: string;
  failures: number;
  windowStart: number;
}

export async function readLoginAttempts(db: Db, keys: string[]): Promise<AttemptWindow[]> {
  const rows = await db.select().from(loginAttempts).where(inArray(loginAttempts.key, keys));
  return rows.map((r) => ({ key: r.key, failures: r.failures, windowStart: r.windowStart.getTime() }));
}

/**
 * Counts one failure against each key. A window that has run out starts
 * again at this failure, in the same statement, so concurrent failures are
 * never lost.
 */
export async function recordLoginFailure(db: Db, keys: string[], now: Date, windowMs: number): Promise<void> {
  const statements = keys.map((key) =>
    db
      .insert(loginAttempts)
      .values({ key, failures: 1, windowStart: now })
      .onConflictDoUpdate({
        target: loginAttempts.key,
        set: {
          failures: sql`CASE WHEN ${loginAttempts.windowStart} <= ${now.getTime() - windowMs} THEN 1 ELSE ${loginAttempts.failures} + 1 END`,
          windowStart: sql`CASE WHEN ${loginAttempts.windowStart} <= ${now.getTime() - windowMs} THEN ${now.getTime()} ELSE ${loginAttempts.windowStart} END`,
        },
      }),
  );
  if (statements.length > 0) await db.batch(statements as [(typeof statements)[0], ...typeof statements]);
}

export async function clearLoginFailures(db: Db, key: string): Promise<void> {
  await db.delete(loginAttempts).where(eq(loginAttempts.key, key));
}

/** Cron: windows that ended long ago. */
export async function deleteStaleLoginAttempts(db: Db, cutoff: Date): Promise<number> {
  const result = await db.delete(loginAttempts).where(lt(loginAttempts.windowStart, cutoff)).run();
  return result.meta.changes ?? 0;
}
