import { banScopeOf } from '../../auth/ban-scope';
import { clearLoginFailures, countLoginAttempt, uncountLoginAttempt } from '../../db/queries/login-attempts';
import type { Db } from '../../db/queries/db';
import { ApiError } from './errors';

/**
 * Failed sign-ins are counted in a fixed window per client IP, per username
 * from that IP, and per username from everywhere. Past a limit every attempt
 * is refused with 429 before any password is checked, so guessing cannot
 * continue and costs no hashing. Every attempt is counted as it starts and a
 * success takes its count back.
 *
 * The tight limit is per username *and* address: one guesser stops after five
 * tries without locking the real administrator out from their own address.
 * The per-username limit over all addresses is what holds against guessing
 * spread over many addresses; it is high enough that reaching it takes many
 * addresses, each also held to its own limits.
 */
export const LOGIN_WINDOW_MS = 15 * 60_000;
export const MAX_FAILURES_PER_USERNAME_AND_IP = 5;
export const MAX_FAILURES_PER_USERNAME = 100;
export const MAX_FAILURES_PER_IP = 20;

export interface LoginKeys {
  ip: string;
  userAtIp: string;
  user: string;
}

export function loginKeys(ip: string, username: string): LoginKeys {
  // Usernames are compared as stored, but the limit must not be dodged by changing case.
  const user = username.toLowerCase();
  // An IPv6 client counts as its /64, as for MQTT bans: one host holds a whole /64 and could rotate through it.
  const from = banScopeOf(ip).value;
  return { ip: `ip:${from}`, userAtIp: `user-ip:${from}\u0000${user}`, user: `user:${user}` };
}

function limitOf(keys: LoginKeys, key: string): number {
  if (key === keys.ip) return MAX_FAILURES_PER_IP;
  if (key === keys.userAtIp) return MAX_FAILURES_PER_USERNAME_AND_IP;
  return MAX_FAILURES_PER_USERNAME;
}

/**
 * Counts this sign-in attempt before any password is checked, and refuses it
 * with 429 when the count it made passes a limit. Counting first is what
 * holds the limit against guesses sent in parallel: each sees its own
 * increment, so at most the limit's worth of them reach the password check.
 * A success takes its count back (loginSucceeded).
 */
export async function reserveLoginAttempt(db: Db, keys: LoginKeys, now: number): Promise<void> {
  const windows = await countLoginAttempt(db, [keys.ip, keys.userAtIp, keys.user], new Date(now), LOGIN_WINDOW_MS);
  let retryAt = 0;
  for (const w of windows) {
    if (w.failures > limitOf(keys, w.key)) retryAt = Math.max(retryAt, w.windowStart + LOGIN_WINDOW_MS);
  }
  if (retryAt > 0) {
    const seconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
    throw new ApiError(429, 'too_many_attempts', `Too many failed sign-ins; try again in ${seconds} s`, undefined, { 'Retry-After': String(seconds) });
  }
}

/**
 * A correct password clears the username's count from this address and takes
 * back its own count elsewhere. The IP's earlier failures stay, so one good
 * account cannot reset a guessing run, and so do the username's failures from
 * other addresses, so signing in cannot reset a guessing run spread over many.
 */
export async function loginSucceeded(db: Db, keys: LoginKeys): Promise<void> {
  await clearLoginFailures(db, keys.userAtIp);
  await uncountLoginAttempt(db, keys.ip);
  await uncountLoginAttempt(db, keys.user);
}
