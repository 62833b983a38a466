import { clearLoginFailures, readLoginAttempts, recordLoginFailure } from '../../db/queries/login-attempts';
import type { Db } from '../../db/queries/db';
import { ApiError } from './errors';

/**
 * Failed sign-ins are counted per client IP and per username in a fixed
 * window. Past the limit every attempt is refused with 429 before any
 * password is checked, so guessing cannot continue and costs no hashing.
 */
export const LOGIN_WINDOW_MS = 15 * 60_000;
export const MAX_FAILURES_PER_USERNAME = 5;
export const MAX_FAILURES_PER_IP = 20;

export function loginKeys(ip: string, username: string): { ip: string; user: string } {
  // Usernames are compared as stored, but the limit must not be dodged by changing case.
  return { ip: `ip:${ip}`, user: `user:${username.toLowerCase()}` };
}

export async function assertLoginAllowed(db: Db, keys: { ip: string; user: string }, now: number): Promise<void> {
  const windows = await readLoginAttempts(db, [keys.ip, keys.user]);
  let retryAt = 0;
  for (const w of windows) {
    const limit = w.key === keys.ip ? MAX_FAILURES_PER_IP : MAX_FAILURES_PER_USERNAME;
    const endsAt = w.windowStart + LOGIN_WINDOW_MS;
    if (endsAt > now && w.failures >= limit) retryAt = Math.max(retryAt, endsAt);
  }
  if (retryAt > 0) {
    const seconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
    throw new ApiError(429, 'too_many_attempts', `Too many failed sign-ins; try again in ${seconds} s`, undefined, { 'Retry-After': String(seconds) });
  }
}

export async function loginFailed(db: Db, keys: { ip: string; user: string }, now: number): Promise<void> {
  await recordLoginFailure(db, [keys.ip, keys.user], new Date(now), LOGIN_WINDOW_MS);
}

/** A correct password clears the username's count; the IP's count stays, so one good account cannot reset a guessing run. */
export async function loginSucceeded(db: Db, keys: { ip: string; user: string }): Promise<void> {
  await clearLoginFailures(db, keys.user);
}
