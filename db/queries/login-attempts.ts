import { eq, lt, sql } from 'drizzle-orm';
import { loginAttempts } from '../schema';
import type { Db } from './db';

export interface AttemptWindow {
  key: string;
  failures: number;
  windowStart: number;
}

/**
 * Counts one attempt against each key and returns the counts it made, in
 * one batch. A window that has run out starts again at this attempt, in the
 * same statement, so concurrent attempts are never lost, and each sees the
 * count its own increment produced: attempts sent in parallel cannot all
 * read a count below the limit.
 */
export async function countLoginAttempt(db: Db, keys: [string, ...string[]], now: Date, windowMs: number): Promise<AttemptWindow[]> {
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
      })
      .returning({ key: loginAttempts.key, failures: loginAttempts.failures, windowStart: loginAttempts.windowStart }),
  );
  const results = await db.batch(statements as [(typeof statements)[0], ...typeof statements]);
  return results.flat().map((r) => ({ key: r.key, failures: r.failures, windowStart: r.windowStart.getTime() }));
}

/** Takes back one counted attempt (it turned out to be a success). */
export async function uncountLoginAttempt(db: Db, key: string): Promise<void> {
  await db
    .update(loginAttempts)
    .set({ failures: sql`MAX(${loginAttempts.failures} - 1, 0)` })
    .where(eq(loginAttempts.key, key));
}

export async function clearLoginFailures(db: Db, key: string): Promise<void> {
  await db.delete(loginAttempts).where(eq(loginAttempts.key, key));
}

/** Cron: windows that ended long ago. */
export async function deleteStaleLoginAttempts(db: Db, cutoff: Date): Promise<number> {
  const result = await db.delete(loginAttempts).where(lt(loginAttempts.windowStart, cutoff)).run();
  return result.meta.changes ?? 0;
}
