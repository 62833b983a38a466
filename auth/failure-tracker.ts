/**
 * Counts refused attempts in a fixed window and says when something should be
 * banned for a while. Two views, because thousands of devices can share one
 * IP behind carrier-grade NAT:
 *
 * - per client id: a device that keeps failing is banned by its client id,
 *   and only it. Its neighbours on the same IP are not touched.
 * - per IP, by how many *different* client ids and usernames fail from it:
 *   only an IP-wide view shows an attacker rotating identities. A fleet with
 *   a few broken devices has a few failing identities, however often they
 *   retry, so it never reaches the threshold.
 *
 * Memory is bounded: identities are kept as 32-bit hashes, at most
 * `ipMaxDistinct` per IP, and when `maxKeys` windows are held the oldest are
 * forgotten first, which only makes an attacker's life easier by a little,
 * never the broker's worse.
 *
 * The tracker lives in one shard's memory; its answer is a ban that the
 * caller stores in D1, where every shard reads it. `record` is the one seam a
 * shared counter (per-IP Durable Object, or D1) would replace.
 */
export interface AutoBanSettings {
  enabled: boolean;
  /** Failures of one client id within the window that ban that client id. */
  maxFailures: number;
  windowSeconds: number;
  banSeconds: number;
  /** Distinct failing client ids, or distinct failing usernames, from one IP within the window that ban the IP. */
  ipMaxDistinct?: number;
  /** Which bans are made: by client id, IP-wide, or both. */
  scope?: Array<'ip' | 'clientId'>;
}

export interface BanDecision {
  kind: 'ip' | 'clientId';
  value: string;
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

interface ClientIdWindow {
  kind: 'clientId';
  start: number;
  count: number;
}

interface IpWindow {
  kind: 'ip';
  start: number;
  clientIds: Set<number>;
  usernames: Set<number>;
}

export class FailureTracker {
  private readonly windows = new Map<string, ClientIdWindow | IpWindow>();

  constructor(private readonly maxKeys = 10_000) {}

  record(who: FailedAttempt, settings: AutoBanSettings, now: number): BanDecision[] {
    if (!settings.enabled) return [];
    const scope = settings.scope ?? ['ip', 'clientId'];
    const bans: BanDecision[] = [];
    const stableClientId = who.clientId !== '' && !who.clientIdAssigned;
    if (scope.includes('clientId') && stableClientId) {
      const ban = this.countClientId(who.clientId, settings, now);
      if (ban) bans.push(ban);
    }
    if (scope.includes('ip') && who.ip && who.ip !== 'unknown') {
      const ban = this.countIdentityAtIp(who, stableClientId, settings, now);
      if (ban) bans.push(ban);
    }
    this.evictOldest();
    return bans;
  }

  size(): number {
    return this.windows.size;
  }

  private countClientId(clientId: string, settings: AutoBanSettings, now: number): BanDecision | null {
    const w = this.current(`clientId\u0000${clientId}`, settings, now, (start) => ({ kind: 'clientId', start, count: 0 }));
    if (w.kind !== 'clientId') return null;
    w.count++;
    if (w.count < settings.maxFailures) return null;
    this.windows.delete(`clientId\u0000${clientId}`);
    return {
      kind: 'clientId',
      value: clientId,
      until: now + settings.banSeconds * 1000,
      description: `${settings.maxFailures} failed attempts by this client id within ${settings.windowSeconds}s`,
    };
  }

  private countIdentityAtIp(who: FailedAttempt, stableClientId: boolean, settings: AutoBanSettings, now: number): BanDecision | null {
    const limit = settings.ipMaxDistinct ?? DEFAULT_IP_MAX_DISTINCT;
    const key = `ip\u0000${who.ip}`;
    const w = this.current(key, settings, now, (start) => ({ kind: 'ip', start, clientIds: new Set(), usernames: new Set() }));
    if (w.kind !== 'ip') return null;
    if (stableClientId) w.clientIds.add(hash(who.clientId));
    // Anonymous attempts count as one username: "no username" is not a new identity each time.
    w.usernames.add(who.username === null ? 0 : hash(`u:${who.username}`));
    const clientIds = w.clientIds.size;
    const usernames = w.usernames.size;
    if (clientIds < limit && usernames < limit) return null;
    this.windows.delete(key);
    const what = clientIds >= limit ? `${clientIds} different client ids` : `${usernames} different usernames`;
    return {
      kind: 'ip',
      value: who.ip,
      until: now + settings.banSeconds * 1000,
      description: `${what} failed from this IP within ${settings.windowSeconds}s`,
    };
  }

  /** The window for `key`, started afresh when the old one has run out. */
  private current<W extends ClientIdWindow | IpWindow>(key: string, settings: AutoBanSettings, now: number, fresh: (start: number) => W): ClientIdWindow | IpWindow {
    let w = this.windows.get(key);
    if (!w || now - w.start >= settings.windowSeconds * 1000) w = fresh(now);
    // Re-insert so Map order stays oldest-first for eviction.
    this.windows.delete(key);
    this.windows.set(key, w);
    return w;
  }

  private evictOldest(): void {
    while (this.windows.size > this.maxKeys) {
      const oldest = this.windows.keys().next().value;
      if (oldest === undefined) break;
      this.windows.delete(oldest);
    }
  }
}

/** FNV-1a: a set of 32-bit numbers is far smaller than a set of client ids an attacker chose. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
