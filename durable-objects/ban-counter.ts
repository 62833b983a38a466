import { DurableObject } from 'cloudflare:workers';
import type { SharedIpCounter } from '../auth/failure-tracker';
import { IpIdentityWindow, type IpCount, type IpIdentity, type IpLimits } from '../auth/ip-identities';

/**
 * The IP-wide failure count that every shard shares: one object per client
 * IP as the bans see it (auth/ban-scope.ts), named `ip:<address>` for IPv4
 * and `ip:<prefix>::/64` for IPv6, holding one window of the distinct client ids
 * and usernames that failed from it (auth/ip-identities.ts). Shards call it
 * only on a refusal, and only for an identity new to their own window, so a
 * reconnect storm of good devices never reaches it and a broken device
 * retrying reaches it once per window.
 *
 * Memory is one window: at most `maxDistinct` hashes of each kind, because
 * reaching that ends the window with a ban. Nothing is stored: a window is a
 * minute by default, and an object evicted while idle forgets it, which
 * only gives an attacker a fresh start, never bans anyone sooner.
 */
export class BanCounter extends DurableObject {
  private window: IpIdentityWindow | null = null;

  add(identity: IpIdentity, limits: IpLimits): IpCount {
    if (!validIdentity(identity) || !validLimits(limits)) throw new TypeError('invalid failure count request');
    const now = Date.now();
    if (!this.window || this.window.expired(limits, now)) this.window = new IpIdentityWindow(now);
    const count = this.window.add(identity, limits);
    // The caller that reached the limit makes the ban; counting starts afresh, as on one shard.
    if (count.reached) this.window = null;
    return count;
  }
}

/** The shards' side: the counter of one IP (an IPv6 /64), reached by name. */
export function sharedIpCounter(namespace: DurableObjectNamespace<BanCounter>): SharedIpCounter {
  return {
    add: (ip, identity, limits) => namespace.get(namespace.idFromName(`ip:${ip}`)).add(identity, limits),
  };
}

const isHash = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

function validIdentity(identity: IpIdentity): boolean {
  return (identity.clientId === null || isHash(identity.clientId)) && isHash(identity.username);
}

function validLimits(limits: IpLimits): boolean {
  return Number.isInteger(limits.maxDistinct) && limits.maxDistinct >= 2 && limits.maxDistinct <= 10_000 && Number.isFinite(limits.windowSeconds) && limits.windowSeconds > 0;
}
