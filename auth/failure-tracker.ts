/**
 * Counts refused attempts per IP and per client id in a fixed window, and
 * says when one crosses the threshold so the caller can ban it for a while.
 * Memory is bounded: when full, the oldest windows are forgotten first,
 * which only makes an attacker's life easier by a little, never the broker's worse.
 */
export interface AutoBanSettings {
  enabled: boolean;
  maxFailures: number;
  windowSeconds: number;
  banSeconds: number;
  scope?: Array<'ip' | 'clientId'>;
}

export interface BanDecision {
  kind: 'ip' | 'clientId';
  value: string;
  until: number;
}

export class FailureTracker {
  private readonly windows = new Map<string, { count: number; start: number }>();

  constructor(private readonly maxKeys = 10_000) {}

  record(who: { ip: string; clientId: string }, settings: AutoBanSettings, now: number): BanDecision[] {
    if (!settings.enabled) return [];
    const bans: BanDecision[] = [];
    for (const [kind, value] of [
      ['ip', who.ip],
      ['clientId', who.clientId],
    ] as const) {
      if (!value || value === 'unknown' || (settings.scope && !settings.scope.includes(kind))) continue;
      const key = `${kind}\u0000${value}`;
      let w = this.windows.get(key);
      if (!w || now - w.start >= settings.windowSeconds * 1000) {
        this.windows.delete(key);
        w = { count: 0, start: now };
      }
      w.count++;
      // Re-insert so Map order stays oldest-first for eviction.
      this.windows.set(key, w);
      if (w.count >= settings.maxFailures) {
        this.windows.delete(key);
        bans.push({ kind, value, until: now + settings.banSeconds * 1000 });
      }
    }
    while (this.windows.size > this.maxKeys) {
      const oldest = this.windows.keys().next().value;
      if (oldest === undefined) break;
      this.windows.delete(oldest);
    }
    return bans;
  }

  size(): number {
    return this.windows.size;
  }
}
