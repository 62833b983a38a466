/**
 * The distinct identities that failed from one IP within one window: the
 * IP-wide half of the automatic bans (auth/failure-tracker.ts). The same
 * window is kept by each shard for what it saw and by the shared counter
 * (durable-objects/ban-counter.ts) for what every shard saw, so the rule is
 * written once, here.
 *
 * Identities are 32-bit hashes, and a window never holds more than
 * `maxDistinct` of either kind: reaching it ends the window with a ban.
 */

/** One failed attempt as the IP count sees it: a hashed client id (null when the broker assigned it) and a hashed username (0: none). */
export interface IpIdentity {
  clientId: number | null;
  username: number;
}

export interface IpLimits {
  windowSeconds: number;
  maxDistinct: number;
}

/** What a window holds after an attempt, and whether that attempt reached the limit. */
export interface IpCount {
  start: number;
  clientIds: number;
  usernames: number;
  reached: boolean;
}

export class IpIdentityWindow {
  private readonly clientIds = new Set<number>();
  private readonly usernames = new Set<number>();

  constructor(public start: number) {}

  /** How many identity hashes the window holds, for its owner's memory bound. */
  get size(): number {
    return this.clientIds.size + this.usernames.size;
  }

  expired(limits: IpLimits, now: number): boolean {
    return now - this.start >= limits.windowSeconds * 1000;
  }

  /** True when the identity adds something this window had not seen: only then can a count move. */
  isNew(identity: IpIdentity): boolean {
    return (identity.clientId !== null && !this.clientIds.has(identity.clientId)) || !this.usernames.has(identity.username);
  }

  add(identity: IpIdentity, limits: IpLimits): IpCount {
    if (identity.clientId !== null) this.clientIds.add(identity.clientId);
    this.usernames.add(identity.username);
    const clientIds = this.clientIds.size;
    const usernames = this.usernames.size;
    return { start: this.start, clientIds, usernames, reached: clientIds >= limits.maxDistinct || usernames >= limits.maxDistinct };
  }
}

/** The identity of a failed attempt, hashed. Anonymous attempts count as one username: "no username" is not a new identity each time. */
export function ipIdentityOf(who: { clientId: string; username: string | null }, stableClientId: boolean): IpIdentity {
  return { clientId: stableClientId ? hash(who.clientId) : null, username: who.username === null ? 0 : hash(`u:${who.username}`) };
}

/** FNV-1a: a set of 32-bit numbers is far smaller than a set of client ids an attacker chose. */
export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
