import { clearLoginFailures, countLoginAttempt, uncountLoginAttempt } from '../../db/queries/login-attempts';
import type { Db } from '../../db/queries/db';
import { ApiError } from './errors';

/**
 * Failed sign-ins are counted per client IP and per username in a fixed
 * window. Past the limit every attempt is refused with 429 before any
 * password is checked, so guessing cannot continue and costs no hashing.
 * Every attempt is counted as it starts and a success takes its count back.
 */
export const LOGIN_WINDOW_MS = 15 * 60_000;
export const MAX_FAILURES_PER_USERNAME = 5;
export const MAX_FAILURES_PER_IP = 20;

export function loginKeys(ip: string, username: string): { ip: string; user: string } {
  // Usernames are compared as stored, but the limit must not be dodged by changing case.
  return { ip: `ip:${ip}`, user: `user:${username.toLowerCase()}` };
}

/**
 * Counts this sign-in attempt before any password is checked, and refuses it
 * with 429 when the count it made passes a limit. Counting first is what
 * holds the limit against guesses sent in parallel: each sees its own
 * increment, so at most the limit's worth of them reach the password check.
 * A success takes its count back (loginSucceeded).
 */
export async function reserveLoginAttempt(db: Db, keys: { ip: string; user: string }, now: number): Promise<void> {
  const windows = await countLoginAttempt(db, [keys.ip, keys.user], new Date(now), LOGIN_WINDOW_MS);
  let retryAt = 0;
  for (const w of windows) {
    const limit = w.key === keys.ip ? MAX_FAILURES_PER_IP : MAX_FAILURES_PER_USERNAME;
    if (w.failures > limit) retryAt = Math.max(retryAt, w.windowStart + LOGIN_WINDOW_MS);
  }
  if (retryAt > 0) {
    const seconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
    throw new ApiError(429, 'too_many_attempts', `Too many failed sign-ins; try again in ${seconds} s`, undefined, { 'Retry-After': String(seconds) });
  }
}

/** A correct password clears the username's count and takes back its own count for the IP; the IP's earlier failures stay, so one good account cannot reset a guessing run. */
export async function loginSucceeded(db: Db, keys: { ip: string; user: string }): Promise<void> {
  await clearLoginFailures(db, keys.user);
  await uncountLoginAttempt(db, keys.ip);
}
