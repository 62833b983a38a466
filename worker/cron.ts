import { deleteExpiredAutoBlocks } from '../db/queries/blocked-clients';
import { readBrokerSettingRows } from '../db/queries/broker-settings';
import { openDb, type Db } from '../db/queries/db';
import { deleteStaleLoginAttempts } from '../db/queries/login-attempts';
import { deleteOlderThan } from '../db/queries/unauthorized-clients';
import { LOGIN_WINDOW_MS } from './admin/login-guard';
import type { Env } from './env';

const DAY_MS = 86_400_000;
export const DEFAULT_UNAUTHORIZED_TTL_DAYS = 3;

/**
 * How long Unauthorized Clients rows are kept: the broker setting
 * unauthorizedRetentionDays when an operator stored one, else the
 * UNAUTHORIZED_CLIENTS_TTL_DAYS var, else 3 days.
 */
export async function unauthorizedRetentionDays(db: Db, env: Record<string, unknown>): Promise<number> {
  const stored = (await readBrokerSettingRows(db)).unauthorizedRetentionDays;
  if (typeof stored === 'number' && Number.isInteger(stored) && stored >= 1 && stored <= 365) return stored;
  const fromVar = Number(env.UNAUTHORIZED_CLIENTS_TTL_DAYS);
  return Number.isFinite(fromVar) && fromVar > 0 ? fromVar : DEFAULT_UNAUTHORIZED_TTL_DAYS;
}

export interface RetentionResult {
  unauthorizedClients: number;
  expiredAutoBlocks: number;
  loginAttempts: number;
}

/** The cron trigger's work: old refusal rows, automatic bans that ran out, finished login windows. */
export async function runRetention(env: Env, now = Date.now()): Promise<RetentionResult> {
  const db = openDb(env.DB);
  const days = await unauthorizedRetentionDays(db, env);
  return {
    unauthorizedClients: await deleteOlderThan(db, new Date(now - days * DAY_MS)),
    expiredAutoBlocks: await deleteExpiredAutoBlocks(db, new Date(now)),
    loginAttempts: await deleteStaleLoginAttempts(db, new Date(now - LOGIN_WINDOW_MS)),
  };
}
