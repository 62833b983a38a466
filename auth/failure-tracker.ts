import { banScopeOf } from './ban-scope';
import { IpIdentityWindow, ipIdentityOf, type IpCount, type IpIdentity, type IpLimits } from './ip-identities';

/**
 * Counts refused attempts in a fixed window and says when something should be
 * banned for a while. Two views, because thousands of devices can share one
 * IP behind carrier-grade NAT:
 *
 * - per client id at one IP: a device that keeps failing is banned by its
 *   client id, and only where its failures came from. Its neighbours on the
 *   same IP are not touched, and neither is the same client id connecting
 *   from another IP: client ids are often guessable (serial numbers, MACs),
 *   and anyone who knows one must not be able to lock its device out from
 *   elsewhere by failing with it. Nor does this count touch the IP-wide one:
 *   a client id failing at one IP is one identity there, however often.
 * - per IP, by how many *different* client ids and usernames fail from it:
 *   only an IP-wide view shows an attacker rotating identities. A fleet with
 *   a few broken devices has a few failing identities, however often they
 *   retry, so it never reaches the threshold.
 *
 * Memory is bounded: identities are kept as 32-bit hashes, at most
 * `ipMaxDistinct` per IP; a window that has run out is dropped as soon as
 * it is the least recently used; and past `maxKeys` windows or
 * `maxIdentities` hashes in all, the least recently used are forgotten
 * first, which only makes an attacker's life easier by a little, never the
 * broker's worse. The second bound matters with IPv6, where one attacker may
 * hold /64s enough (a /48 has 65,536) to fill every window to just below its ban.
 *
 * "One IP" is what banScopeOf (auth/ban-scope.ts) makes of an address: an
 * IPv4 address is itself, an IPv6 address is its /64, which one subscriber
 * holds whole. Both views count and ban by that, so an attacker who takes a
 * new address in their /64 for every attempt is still one IP here; the IP
 * ban of a /64 is a `cidr` entry, and a client id ban names the /64 as its IP.
 *
 * A client id always lands on the same shard, so its count at an IP in that
 * shard's memory is already the whole cluster's. An IP's failing identities spread
 * over the shards, so with a SharedIpCounter the IP-wide count is kept once
 * for every shard (durable-objects/ban-counter.ts); this shard's own window
 * then only says which identities it has already reported, so a device that
 * keeps retrying costs no call, and only a new identity does. The answer is a
 * ban that the caller stores in D1, where every shard reads it.
 */
export interface AutoBanSettings {
  enabled: boolean;
  /** Failures of one client id from one IP (an IPv6 /64) within the window that ban that client id at that IP. */
  maxFailures: number;
  windowSeconds: number;
  banSeconds: number;
  /** Distinct failing client ids, or distinct failing usernames, from one IP (an IPv6 /64) within the window that ban the IP. */
  ipMaxDistinct?: number;
  /** Which bans are made: by client id, IP-wide, or both. */
  scope?: Array<'ip' | 'clientId'>;
}

export interface BanDecision {
  /** `cidr`: an IPv6 client's /64, banned IP-wide. */
  kind: 'ip' | 'cidr' | 'clientId';
  value: string;
  /** A client id ban holds only at the IP its failures came from: an IPv4 address, or an IPv6 /64 as a CIDR range. */
  ip?: string;
  until: number;
  /** Why, in words, for the blocked_clients row. */
  description: string;
}

/** Who failed. An identifier the broker assigned says nothing about the device and is not counted by. */
export interface FailedAttempt {
  ip: string;
  clientId: string;
  clientIdAssigned?: boolean;
  username: string | null;
}

export const DEFAULT_IP_MAX_DISTINCT = 100;

/**
 * Distinct failing identities per IP, counted once for every shard. Asked
 * only on a refusal, only about an identity new to this shard's window.
 */
export interface SharedIpCounter {
  /** `ip` is the ban scope: an IPv4 address, or an IPv6 /64 (`2001:db8:1:2::/64`). */
  add(ip: string, identity: IpIdentity, limits: IpLimits): Promise<IpCount>;
}

interface ClientIdWindow {
  start: number;
  count: number;
}

/** Identity hashes all IP windows may hold together: about 4 MB of a 128 MB isolate at the most. */
export const MAX_IP_IDENTITIES = 100_000;

export class FailureTracker {
  /** In order of last use, least recent first. */
  private readonly windows = new Map<string, ClientIdWindow | IpIdentityWindow>();
  /** Identity hashes held by the IP windows together. */
  private identities = 0;

  constructor(
    private readonly maxKeys = 10_000,
    private readonly shared: SharedIpCounter | null = null,
    private readonly maxIdentities = MAX_IP_IDENTITIES,
  ) {}

  async record(who: FailedAttempt, settings: AutoBanSettings, now: number): Promise<BanDecision[]> {
    if (!settings.enabled) return [];
    const scope = settings.scope ?? ['ip', 'clientId'];
    const bans: BanDecision[] = [];
    const stableClientId = who.clientId !== '' && !who.clientIdAssigned;
    if (scope.includes('clientId') && stableClientId) {
      const ban = this.countClientIdAtIp(who.clientId, who.ip, settings, now);
      if (ban) bans.push(ban);
    }
    if (scope.includes('ip') && who.ip && who.ip !== 'unknown') {
      const ban = await this.countIdentityAtIp(who, stableClientId, settings, now);
      if (ban) bans.push(ban);
    }
    this.evict(settings, now);
    return bans;
  }

  size(): number {
    return this.windows.size;
  }

  /** Identity hashes the IP windows hold together. */
  heldIdentities(): number {
    return this.identities;
  }

  private countClientIdAtIp(clientId: string, ip: string, settings: AutoBanSettings, now: number): BanDecision | null {
    const scope = banScopeOf(ip);
    const key = `clientId\u0000${scope.value}\u0000${clientId}`;
    const w = this.current(key, settings, now, (start) => ({ start, count: 0 }));
    if (w instanceof IpIdentityWindow) return null;
    w.count++;
    if (w.count < settings.maxFailures) return null;
    this.forget(key);
    return {
      kind: 'clientId',
      value: clientId,
      ip: scope.value,
      until: now + settings.banSeconds * 1000,
      description: `${settings.maxFailures} failed attempts by this client id from ${scope.words} within ${settings.windowSeconds}s`,
    };
  }

  private async countIdentityAtIp(who: FailedAttempt, stableClientId: boolean, settings: AutoBanSettings, now: number): Promise<BanDecision | null> {
    const limits: IpLimits = { windowSeconds: settings.windowSeconds, maxDistinct: settings.ipMaxDistinct ?? DEFAULT_IP_MAX_DISTINCT };
    const scope = banScopeOf(who.ip);
    const key = `ip\u0000${scope.value}`;
    const w = this.current(key, settings, now, (start) => new IpIdentityWindow(start));
    if (!(w instanceof IpIdentityWindow)) return null;
    const identity = ipIdentityOf(who, stableClientId);
    // Nothing new from this IP: no count can move, here or in the shared counter.
    if (this.shared && !w.isNew(identity)) return null;
    const before = w.size;
    const local = w.add(identity, limits);
    this.identities += w.size - before;
    let count = local;
    if (this.shared) {
      try {
        count = await this.shared.add(scope.value, identity, limits);
        // The shared window decides when counting starts afresh; this one follows it.
        w.start = count.start;
      } catch (err) {
        // Unreachable: this shard's own count still bans, as a single shard would.
        console.error('shared failure count unavailable; counting on this shard', err);
      }
    }
    if (!count.reached) return null;
    this.forget(key);
    const what = count.clientIds >= limits.maxDistinct ? `${count.clientIds} different client ids` : `${count.usernames} different usernames`;
    return {
      kind: scope.kind,
      value: scope.value,
      until: now + settings.banSeconds * 1000,
      description: `${what} failed from ${scope.words} within ${settings.windowSeconds}s`,
    };
  }

  /** The window for `key`, started afresh when the old one has run out. */
  private current<W extends ClientIdWindow | IpIdentityWindow>(key: string, settings: AutoBanSettings, now: number, fresh: (start: number) => W): ClientIdWindow | IpIdentityWindow {
    const held = this.windows.get(key);
    const w = !held || now - held.start >= settings.windowSeconds * 1000 ? fresh(now) : held;
    // Re-insert so Map order stays least recently used first, for eviction; a window run out goes with its hashes.
    if (w === held) this.windows.delete(key);
    else this.forget(key);
    this.windows.set(key, w);
    return w;
  }

  /**
   * From the least recently used: windows that have run out, then as many
   * as the bounds need. One that has not run out and fits stops the walk,
   * so a refusal costs no more than what it evicts.
   */
  private evict(settings: AutoBanSettings, now: number): void {
    const windowMs = settings.windowSeconds * 1000;
    for (const [key, w] of this.windows) {
      const withinBounds = this.windows.size <= this.maxKeys && this.identities <= this.maxIdentities;
      if (withinBounds && now - w.start < windowMs) return;
      this.forget(key);
    }
  }

  private forget(key: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    if (w instanceof IpIdentityWindow) this.identities -= w.size;
  }
}
