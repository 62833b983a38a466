/**
 * How much password hashing one broker shard may do. A shard is one
 * single-threaded Durable Object: every PBKDF2 it runs (tens of ms of CPU at
 * the default strength) delays every other client on it, and an attacker
 * staying just under the automatic-ban thresholds can ask for hundreds a
 * minute from each IP. The verified-credential cache keeps good devices off
 * this path; the budget bounds what is left, which is what an attacker
 * controls.
 *
 * The unit is one verification at the default strength (100,000 iterations,
 * `password-hash.ts`); a weaker hash costs its share of one, because PBKDF2
 * costs in proportion to its iterations.
 */
export interface HashBudget {
  /** Takes `cost` from the budget and answers true, or answers false and takes nothing. */
  tryTake(cost: number): boolean;
  /** The limit in words, for the refusal's detail in the Unauthorized Clients log. */
  readonly description: string;
}

export interface HashBudgetLimits {
  /** Verifications per second the budget refills with; 0 means no budget at all. */
  perSecond: number;
  /** Verifications that may run back to back before the refill rate applies. */
  burst: number;
}

/** No limit: AUTH_MAX_HASHES_PER_SECOND=0, and providers built outside a shard. */
export const UNLIMITED_HASHES: HashBudget = {
  tryTake: () => true,
  description: 'no hash budget',
};

/**
 * A token bucket: it holds at most `burst` tokens and gains `perSecond` every
 * second. Time comes from the injected clock, so tests need no timers.
 *
 * It lives in the shard's memory only, on purpose: it is a rate limit, not a
 * promise to anyone. When the object is evicted the bucket starts full again,
 * which allows at most one extra burst per restart; persisting it would cost
 * a storage write per CONNECT to save that.
 */
export class TokenBucket implements HashBudget {
  private tokens: number;
  private countedAt: number;
  readonly description: string;

  constructor(
    private readonly limits: HashBudgetLimits,
    private readonly clock: { now(): number },
  ) {
    this.tokens = limits.burst;
    this.countedAt = clock.now();
    this.description = `${limits.perSecond} per second, bursts of ${limits.burst}`;
  }

  tryTake(cost: number): boolean {
    this.refill();
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  private refill(): void {
    const now = this.clock.now();
    // A clock that steps back refills nothing rather than taking tokens away.
    const elapsedMs = Math.max(0, now - this.countedAt);
    this.tokens = Math.min(this.limits.burst, this.tokens + (elapsedMs * this.limits.perSecond) / 1000);
    this.countedAt = now;
  }
}

/** The shard's budget from its configuration: a bucket, or none when the rate is 0. */
export function createHashBudget(limits: HashBudgetLimits, clock: { now(): number }): HashBudget {
  return limits.perSecond === 0 ? UNLIMITED_HASHES : new TokenBucket(limits, clock);
}
